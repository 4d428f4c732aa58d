"""Ingest throughput: one ingestor process against the bare fetch-and-ack ceiling.

200k frames with the recorded kind mix (the recording looped, ids and times shifted so
every frame is a new record) are published into a JetStream stream first. Each run
then drains the stream through a fresh durable consumer, as a separate process:

- bare: fetch and ack only (no parse, no write): the ceiling NATS and the client allow;
- ingestor: ``python -m petrosa_ingestor`` on SQLite and on MariaDB.

Throughput is measured from the first delivery to the last ack, polling the consumer.
A second phase publishes at a steady rate and reads the publish-to-durable-write latency
from the ingestor's histogram (bucket interpolation, so quoted to bucket precision).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import nats
import nats.js.errors

from benchmarks._report import table
from petrosa_cli.demo import Replay, encode, load_sample
from petrosa_core.bus import connect, ensure_pull_consumer, ensure_stream
from tests.harness.servers import MariaDB, NatsServer, free_port

REPO = Path(__file__).resolve().parents[1]
TOTAL_FRAMES = int(os.environ.get("BENCH_INGEST_FRAMES", "200000"))
SUBJECT = "bench.frames"
STREAM = "BENCH_FRAMES"
PACED_RATE = 2_000  # frames/s in the latency phase
PACED_SECONDS = 10


def shifted_frames(total: int) -> list[bytes]:
    """The recording looped until ``total`` frames, each loop moved to new times and ids."""
    replay = Replay(load_sample())
    loops = itertools.count()
    frames = (encode(replay.shifted(f, n)) for n in loops for f in replay.frames)
    return list(itertools.islice(frames, total))


async def publish_all(url: str, frames: list[bytes]) -> None:
    nc = await nats.connect(url)
    for i, frame in enumerate(frames):
        await nc.publish(SUBJECT, frame)
        if i % 5_000 == 4_999:
            await nc.flush()
    await nc.flush()
    await nc.close()


async def drain_seconds(url: str, durable: str, total: int) -> float:
    """Seconds from the consumer's first delivery until every frame is acked."""
    bus = await connect(url, name="bench-observer")
    first = None
    try:
        while True:
            try:
                info = await bus.js.consumer_info(STREAM, durable)
            except nats.js.errors.NotFoundError:  # the process has not created it yet
                await asyncio.sleep(0.02)
                continue
            if first is None and info.delivered.stream_seq > 0:
                first = time.perf_counter()
            if info.ack_floor.stream_seq >= total and info.num_ack_pending == 0:
                assert first is not None
                return time.perf_counter() - first
            await asyncio.sleep(0.02)
    finally:
        await bus.close()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bare_consumer(url: str, durable: str, total: int) -> None:
    """The ceiling: fetch in batches of 1000 and ack each frame, nothing else."""
    nc = await nats.connect(url)
    sub = await nc.jetstream().pull_subscribe_bind(durable=durable, stream=STREAM)
    done = 0
    while done < total:
        try:
            msgs = await sub.fetch(1000, timeout=1.0)
        except nats.errors.TimeoutError:
            continue
        for msg in msgs:
            await msg.ack()
        done += len(msgs)
    await nc.flush()
    await nc.close()


async def run_bare(url: str) -> tuple[float, float]:
    durable = f"bare_{uuid.uuid4().hex[:6]}"
    bus = await connect(url, name="bench-setup")
    await ensure_pull_consumer(
        bus.js, STREAM, durable, filter_subject=SUBJECT, max_ack_pending=20_000
    )
    await bus.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.bench_ingest",
        "bare",
        url,
        durable,
        str(TOTAL_FRAMES),
        cwd=REPO,
    )
    seconds = await drain_seconds(url, durable, TOTAL_FRAMES)
    rss = peak_rss_mib(proc.pid)
    await asyncio.wait_for(proc.wait(), 30)
    return seconds, rss


async def run_ingestor(
    url: str, market_url: str, workdir: Path, paced: bool = False
) -> dict[str, float]:
    durable = f"ingest_{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": url,
        "NATS_CONSUMER_SUBJECT": SUBJECT,
        "NATS_STREAM_NAME": STREAM,
        "NATS_CONSUMER_DURABLE": durable,
        "MARKET_STORE_URL": market_url,
        "LOG_LEVEL": "WARNING",
        "METADATA_STORE_URL": f"sqlite+aiosqlite:///{workdir / f'{durable}-meta.db'}",
        "METRICS_PORT": str(port),
        "NATS_STREAM_MAX_BYTES": str(2 * 1024**3),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petrosa_ingestor", env=env, cwd=REPO
    )
    try:
        if paced:
            return await _paced_latency(url, durable, port)
        seconds = await drain_seconds(url, durable, TOTAL_FRAMES)
        return {"seconds": seconds, "rss": peak_rss_mib(proc.pid)}
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)


async def _paced_latency(url: str, durable: str, port: int) -> dict[str, float]:
    """Publish new frames at a steady rate into a live ingestor; read its latency histogram."""
    await drain_seconds(url, durable, TOTAL_FRAMES)  # let it catch up with the backlog first
    before = await _latency_buckets(port)
    frames = shifted_frames(TOTAL_FRAMES + PACED_RATE * PACED_SECONDS)[TOTAL_FRAMES:]
    nc = await nats.connect(url)
    started = time.perf_counter()
    for i, frame in enumerate(frames):
        await nc.publish(SUBJECT, frame)
        if i % 100 == 99:
            await nc.flush()
            await asyncio.sleep(max(0.0, started + (i + 1) / PACED_RATE - time.perf_counter()))
    await nc.flush()
    await nc.close()
    await drain_seconds(url, durable, TOTAL_FRAMES + len(frames))
    after = await _latency_buckets(port)
    delta = [(le, after[le] - before.get(le, 0.0)) for le in sorted(after)]
    return {"p50": _quantile(delta, 0.5), "p99": _quantile(delta, 0.99)}


async def _latency_buckets(port: int) -> dict[float, float]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    buckets = {}
    for line in text.splitlines():
        if line.startswith("data_manager_ingest_latency_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets[float("inf") if le == "+Inf" else float(le)] = float(line.split()[-1])
    return buckets


def _quantile(cumulative: list[tuple[float, float]], q: float) -> float:
    """Linear interpolation inside the histogram bucket holding quantile ``q``."""
    total = cumulative[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in cumulative:
        if count >= q * total:
            if le == float("inf"):
                return lower_le
            share = (q * total - lower_count) / max(count - lower_count, 1.0)
            return lower_le + (le - lower_le) * share
        lower_le, lower_count = le, count
    return float("nan")


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = NatsServer(workdir / "nats")
        mariadb = MariaDB(workdir / "mariadb")
        server.start()
        mariadb.start()
        try:
            await _run(server.url, mariadb, workdir)
        finally:
            mariadb.stop()
            server.stop()


async def _run(url: str, mariadb: MariaDB, workdir: Path) -> None:
    bus = await connect(url, name="bench-setup")
    await ensure_stream(bus.js, STREAM, [SUBJECT], max_bytes=2 * 1024**3)
    await bus.close()
    await publish_all(url, shifted_frames(TOTAL_FRAMES))
    bare_s, bare_rss = await run_bare(url)
    rows = [["bare fetch+ack", f"{TOTAL_FRAMES / bare_s:,.0f}", "1.00", f"{bare_rss:.0f}"]]
    for name, market_url in (
        ("ingestor sqlite", f"sqlite+aiosqlite:///{workdir / 'm.db'}"),
        ("ingestor mariadb", mariadb.create_database()),
    ):
        result = await run_ingestor(url, market_url, workdir)
        rate = TOTAL_FRAMES / result["seconds"]
        rows.append(
            [name, f"{rate:,.0f}", f"{bare_s / result['seconds']:.2f}", f"{result['rss']:.0f}"]
        )
    print(
        table(
            f"Ingest: {TOTAL_FRAMES:,} frames, recorded kind mix",
            ["consumer", "frames/s", "ratio to bare", "peak RSS MiB"],
            rows,
        )
    )
    latency = await run_ingestor(
        url, f"sqlite+aiosqlite:///{workdir / 'lat.db'}", workdir, paced=True
    )
    print(
        f"\npublish -> durable write at {PACED_RATE} frames/s (SQLite, histogram "
        f"interpolation): p50 {latency['p50'] * 1000:.0f} ms, p99 {latency['p99'] * 1000:.0f} ms"
    )


if __name__ == "__main__" and sys.argv[1:2] == ["bare"]:
    asyncio.run(bare_consumer(sys.argv[2], sys.argv[3], int(sys.argv[4])))
