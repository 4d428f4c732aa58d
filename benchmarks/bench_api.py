"""API throughput: GET /data/candles of 1000 rows against /health/liveness of the same process.

``python -m petrosa_api`` runs as its own process over a SQLite market store holding the
recorded XRPUSDT 5m candles; a load generator in another process keeps 16 requests in
flight on loopback. Three runs: the trivial endpoint (the baseline), one 1000-row page
asked by every client (identical requests in flight share one store read), and 64
different 1000-row pages in rotation (every request reads the store).
Targets: candles at least 0.3 of the baseline's requests/s, p99 under 50 ms, for the
distinct pages (the same-page figure is reported beside it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks._report import table
from petrosa_core.market import open_market_store
from petrosa_core.models import Candle, DatasetId, DatasetKind
from tests.harness.recorded import RECORDINGS, csv_candles
from tests.harness.servers import NatsServer

REPO = Path(__file__).resolve().parents[1]
CANDLES_FILE = RECORDINGS / "xrpusdt_perp_5m_klines.csv"
CONCURRENCY = 16
FIVE_MIN = 300_000
TARGET_RATIO = 0.3
TARGET_P99_MS = 50.0
REQUESTS = {"liveness": 6000, "candles": 2000, "distinct": 600}


def recorded_candles() -> list[Candle]:
    return csv_candles(CANDLES_FILE, "XRPUSDT", "5m", FIVE_MIN)


async def fill(url: str, candles: list[Candle]) -> None:
    store = await open_market_store(url)
    try:
        await store.write(DatasetId.of(DatasetKind.CANDLES, "XRPUSDT", "5m"), candles)
    finally:
        await store.close()


@dataclass
class ApiProcess:
    proc: asyncio.subprocess.Process
    port: int
    logs: asyncio.Task[None]

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        await self.proc.wait()
        await self.logs


async def start_api(folder: Path, nats_url: str) -> ApiProcess:
    """The API as its own process; its port comes from its "http listening" log line."""
    env = {
        **os.environ,
        "API_PORT": "0",
        "NATS_URL": nats_url,
        "MARKET_STORE_URL": f"sqlite+aiosqlite:///{folder / 'market.db'}",
        "METADATA_STORE_URL": f"sqlite+aiosqlite:///{folder / 'metadata.db'}",
        "API_RATE_LIMIT_PER_MINUTE": "0",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petrosa_api", env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        async for line in proc.stderr:
            entry = json.loads(line)
            if entry.get("message") == "http listening":
                port = int(entry["port"])
                break
        else:
            raise RuntimeError("the API exited before listening")
    # Keep reading its logs so a full pipe never blocks it.
    api = ApiProcess(proc, port, asyncio.create_task(_discard(proc.stderr)))
    await _until_ready(port)
    return api


async def _discard(stream: asyncio.StreamReader) -> None:
    async for _ in stream:
        pass


async def _until_ready(port: int) -> None:
    async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(30):
        while (await client.get(f"http://127.0.0.1:{port}/health/readiness")).status_code != 200:
            await asyncio.sleep(0.1)


async def generate(port: int, requests: int, paths: list[str]) -> dict[str, Any]:
    """Run the load generator as a separate process and read its JSON result."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks._loadgen", "--port", str(port),
        "--requests", str(requests), "--concurrency", str(CONCURRENCY), *paths,
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed with {proc.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result


def candle_paths(count: int) -> list[str]:
    first = 1_636_934_400_000
    base = "/data/candles?pair=XRPUSDT&period=5m&limit=1000"
    return [f"{base}&start={first + i * 7 * FIVE_MIN}" for i in range(count)]


async def measure(port: int) -> dict[str, dict[str, Any]]:
    # The store's first scans start its reader processes: every page once before timing.
    await generate(port, 64, candle_paths(64))
    return {
        "liveness": await generate(port, REQUESTS["liveness"], ["/health/liveness"]),
        "candles": await generate(port, REQUESTS["candles"], candle_paths(1)),
        "distinct": await generate(port, REQUESTS["distinct"], candle_paths(64)),
    }


def report(results: dict[str, dict[str, Any]]) -> None:
    base = results["liveness"]["rps"]
    labels = {
        "liveness": "GET /health/liveness",
        "candles": "GET /data/candles 1000 rows, one page",
        "distinct": "GET /data/candles 1000 rows, 64 pages",
    }
    rows = [
        [
            labels[name],
            f"{r['rps']:.0f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['rps'] / base:.2f}",
            str(r["errors"]),
        ]
        for name, r in results.items()
    ]
    header = ["endpoint", "req/s", "p50 ms", "p99 ms", "vs liveness", "errors"]
    print(table(f"API, concurrency {CONCURRENCY}, SQLite store", header, rows))
    for name in ("distinct", "candles"):
        print(_verdict(labels[name], results[name], base))


def _verdict(label: str, result: dict[str, Any], base: float) -> str:
    """The target check of one candles run: the distinct-page run is the one that counts."""
    ratio = result["rps"] / base
    ratio_ok, p99_ok = ratio >= TARGET_RATIO, result["p99_ms"] < TARGET_P99_MS
    return (
        f"{label}: {ratio:.2f} of liveness (target >= {TARGET_RATIO}: "
        f"{'met' if ratio_ok else 'missed'}); p99 {result['p99_ms']:.1f} ms "
        f"(target < {TARGET_P99_MS:g} ms: {'met' if p99_ok else 'missed'})"
    )


async def run() -> None:
    if not CANDLES_FILE.is_file():
        print(f"skipped: {CANDLES_FILE} is absent")
        return
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        folder = Path(tmp)
        await fill(f"sqlite+aiosqlite:///{folder / 'market.db'}", recorded_candles())
        nats_server = NatsServer(folder / "nats")
        nats_server.start()
        try:
            api = await start_api(folder, nats_server.url)
            try:
                results = await measure(api.port)
            finally:
                await api.stop()
        finally:
            nats_server.stop()
    report(results)
