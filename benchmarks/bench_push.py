"""Push delivery: 200 SSE and 50 WebSocket clients while 1,000 stored records a second flow.

Real processes on loopback: nats-server, the ingestor (SQLite market store) and the API;
this process publishes aggTrade frames of 20 symbols at 1,000 a second into the stream;
a client process (``benchmarks._push_clients``) holds the clients, each subscribed to one
symbol's trades, and a bare NATS subscriber of the update subject. Latency runs from the
durable write (the update's ``written_time``) to arrival, for the clients and for the bare
subscriber in the same run (the baseline); the API's CPU and RSS are read from /proc.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._report import table
from benchmarks.bench_api import ApiProcess, start_api
from petrosa_core.bus import connect
from tests.harness.servers import NatsServer

REPO = Path(__file__).resolve().parents[1]
SYMBOLS = [f"P{i:02d}USDT" for i in range(20)]
RATE = 1000  # frames (records) a second
SSE_CLIENTS, WS_CLIENTS = 200, 50
WARMUP, SECONDS = 8.0, 30.0
SUBJECT = "bench.push.frames"
TICK = 0.05  # the publisher sends RATE * TICK frames every TICK seconds


def frame(symbol: str, trade_id: int, now_ms: int) -> bytes:
    data = {
        "e": "aggTrade", "E": now_ms, "s": symbol, "a": trade_id, "p": f"{100 + trade_id % 97}.5",
        "q": "1.25", "f": trade_id * 2, "l": trade_id * 2 + 1, "T": now_ms, "m": trade_id % 2 == 0,
    }  # fmt: skip
    return json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": data}).encode()


async def publish_paced(nats_url: str, stop: asyncio.Event) -> int:
    """Publish ``RATE`` frames a second, round-robin over the symbols, until ``stop``."""
    sent = 0
    per_tick = int(RATE * TICK)
    async with await connect(nats_url, name="bench-frames") as bus:
        while True:  # frames published before the ingestor's stream exists would be lost
            try:
                await bus.js.stream_info("BENCH_PUSH")
                break
            except Exception:  # not found yet, or NATS busy: ask again
                await asyncio.sleep(0.2)
        started = time.monotonic()
        while not stop.is_set():
            now_ms = int(time.time() * 1000)
            for _ in range(per_tick):
                symbol = SYMBOLS[sent % len(SYMBOLS)]
                await bus.publish(SUBJECT, frame(symbol, sent // len(SYMBOLS), now_ms))
                sent += 1
            await bus.flush()
            await asyncio.sleep(max(0.0, started + sent / RATE - time.monotonic()))
    return sent


async def start_ingestor(folder: Path, nats_url: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "NATS_CONSUMER_SUBJECT": SUBJECT,
        "NATS_STREAM_NAME": "BENCH_PUSH",
        "NATS_STREAM_MAX_BYTES": str(512 * 1024**2),
        "MARKET_STORE_URL": f"sqlite+aiosqlite:///{folder / 'market.db'}",
        "METADATA_STORE_URL": f"sqlite+aiosqlite:///{folder / 'metadata.db'}",
        "METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petrosa_ingestor", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def clients_process(
    api: ApiProcess, nats_url: str, sse: int, ws: int
) -> asyncio.subprocess.Process:
    datasets = ",".join(f"trades:{s}" for s in SYMBOLS)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks._push_clients", "--port", str(api.port),
        "--nats-url", nats_url, "--datasets", datasets, "--sse", str(sse),
        "--ws", str(ws), "--warmup", str(WARMUP), "--seconds", str(SECONDS),
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def result_of(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    out = await proc.stdout.read() if proc.stdout else b""
    if await proc.wait() != 0:
        raise RuntimeError(f"push clients failed with {proc.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result


async def run_clients(api: ApiProcess, nats_url: str) -> dict[str, Any]:
    """The clients, and the bare subscriber in a process of its own, over the same run."""
    bare = await clients_process(api, nats_url, 0, 0)
    proc = await clients_process(api, nats_url, SSE_CLIENTS, WS_CLIENTS)
    await asyncio.sleep(WARMUP)
    cpu_before, wall_before = cpu_seconds(api.proc.pid), time.monotonic()
    rss_samples = []
    while proc.returncode is None:
        rss_samples.append(rss_mib(api.proc.pid))
        try:
            await asyncio.wait_for(proc.wait(), 1.0)
        except TimeoutError:
            pass
    cpu = (cpu_seconds(api.proc.pid) - cpu_before) / (time.monotonic() - wall_before)
    result = await result_of(proc)
    result["nats"] = (await result_of(bare))["nats"]
    result["api"] = {
        "cpu": cpu,
        "rss_mib": max(rss_samples),
        "peak_rss_mib": rss_mib(api.proc.pid, "VmHWM"),
    }
    return result


def report(result: dict[str, Any], sent: int) -> None:
    base = result["nats"]
    rows = []
    kinds = (("nats", "bare NATS subscriber (own process)"), ("sse", "SSE"), ("ws", "WebSocket"))
    for kind, label in kinds:
        r = result.get(kind, {"count": 0})
        if not r["count"]:
            rows.append([label, "0", "-", "-", "-", "-"])
            continue
        rows.append(
            [
                label, str(r["count"]), f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
                f"{r['p50_ms'] / base['p50_ms']:.1f}", f"{r['p99_ms'] / base['p99_ms']:.1f}",
            ]
        )  # fmt: skip
    header = ["receiver", "deliveries", "p50 ms", "p99 ms", "p50 vs bare", "p99 vs bare"]
    title = (
        f"Push: {SSE_CLIENTS} SSE + {WS_CLIENTS} WebSocket clients, {RATE} records/s "
        f"over {len(SYMBOLS)} datasets, {SECONDS:.0f} s measured"
    )
    print(table(title, header, rows))
    api = result["api"]
    print(
        f"API: {api['cpu'] * 100:.0f}% of a core, RSS {api['rss_mib']:.0f} MiB "
        f"(peak {api['peak_rss_mib']:.0f} MiB); the clients' process: "
        f"{result['client_cpu'] * 100:.0f}% of a core; frames published {sent}; "
        f"clients closed by the API: {result['closed'] or 'none'}"
    )


async def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        folder = Path(tmp)
        nats_server = NatsServer(folder / "nats")
        nats_server.start()
        try:
            result, sent = await measure(folder, nats_server.url)
        finally:
            nats_server.stop()
    report(result, sent)


async def measure(folder: Path, nats_url: str) -> tuple[dict[str, Any], int]:
    # The API first: it creates both stores' tables, which the ingestor then finds.
    api = await start_api(folder, nats_url)
    ingestor = await start_ingestor(folder, nats_url)
    stop = asyncio.Event()
    publisher = asyncio.create_task(publish_paced(nats_url, stop))
    try:
        result = await run_clients(api, nats_url)
    finally:
        stop.set()
        sent = await publisher
        await api.stop()
        ingestor.send_signal(signal.SIGTERM)
        await ingestor.wait()
    return result, sent
