"""Ingest throughput: one ingestor process against the bare fetch-and-ack ceiling.

200k frames with the recorded kind mix (the recording looped, ids and times shifted so
every frame is a new record) are published into a JetStream stream first. Each run
then drains the stream through a fresh durable consumer, as a separate process:

- bare: fetch and ack only (no parse, no write): the ceiling NATS and the client allow;
- ingestor: ``python -m petrosa_ingestor`` on SQLite and on MariaDB.

Throughput is measured from the first delivery to the last ack, polling the consumer.
The three consumers take turns, three times (``BENCH_INGEST_REPEATS``); frames/s and
ratios are medians, each ingestor run's ratio taken against the bare run just before it.
A second phase publishes at a steady rate and reads the publish-to-durable-write latency
from the ingestor's histogram (bucket interpolation, so quoted to bucket precision).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import nats
import nats.js.errors

from benchmarks._bare_consumer import peak_rss_mib
from benchmarks._report import table
from petrosa_cli.replay import Replay, encode, load_sample
from petrosa_core.bus import connect, ensure_pull_consumer, ensure_stream
from petrosa_ingestor.settings import IngestorSettings
from tests.harness.servers import MariaDB, NatsServer, free_port

REPO = Path(__file__).resolve().parents[1]
TOTAL_FRAMES = int(os.environ.get("BENCH_INGEST_FRAMES", "200000"))
SUBJECT = "bench.frames"
STREAM = "BENCH_FRAMES"
# Each run drains the stream once per consumer; the ratio pairs a run with its bare run.
REPEATS = int(os.environ.get("BENCH_INGEST_REPEATS", "3"))
CONSUMERS = ("bare fetch+ack", "ingestor sqlite", "ingestor mariadb")
# The bare consumer fetches as many frames per request as the ingestor does.
FETCH_BATCH = int(
    os.environ.get(
        "INGEST_FETCH_BATCH", IngestorSettings.model_fields["ingest_fetch_batch"].default
    )
)
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


async def run_bare(url: str) -> tuple[float, float]:
    durable = f"bare_{uuid.uuid4().hex[:6]}"
    bus = await connect(url, name="bench-setup")
    await ensure_pull_consumer(bus, STREAM, durable, filter_subject=SUBJECT, max_ack_pending=20_000)
    await bus.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks._bare_consumer",
        url,
        STREAM,
        durable,
        str(TOTAL_FRAMES),
        str(FETCH_BATCH),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    seconds = await drain_seconds(url, durable, TOTAL_FRAMES)
    # It exits once done, so it reports its own peak RSS rather than being read.
    output, _ = await asyncio.wait_for(proc.communicate(), 30)
    return seconds, float(output.split()[-1])


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
    await ensure_stream(bus, STREAM, [SUBJECT], max_bytes=2 * 1024**3)
    await bus.close()
    await publish_all(url, shifted_frames(TOTAL_FRAMES))
    seconds: dict[str, list[float]] = {name: [] for name in CONSUMERS}
    ratios: dict[str, list[float]] = {name: [] for name in CONSUMERS}
    rss: dict[str, float] = {}
    for run in range(REPEATS):  # interleaved, so a noisy spell hits every consumer alike
        bare_s, rss["bare fetch+ack"] = await run_bare(url)
        seconds["bare fetch+ack"].append(bare_s)
        ratios["bare fetch+ack"].append(1.0)
        for name, market_url in (
            ("ingestor sqlite", f"sqlite+aiosqlite:///{workdir / f'm{run}.db'}"),
            ("ingestor mariadb", mariadb.create_database()),
        ):
            result = await run_ingestor(url, market_url, workdir)
            seconds[name].append(result["seconds"])
            ratios[name].append(bare_s / result["seconds"])
            rss[name] = max(rss.get(name, 0.0), result["rss"])
    rows = [
        [
            name,
            f"{TOTAL_FRAMES / statistics.median(seconds[name]):,.0f}",
            f"{statistics.median(ratios[name]):.2f}",
            " ".join(f"{r:.2f}" for r in ratios[name]),
            f"{rss[name]:.0f}",
        ]
        for name in CONSUMERS
    ]
    print(
        table(
            f"Ingest: {TOTAL_FRAMES:,} frames, recorded kind mix, median of {REPEATS} runs",
            ["consumer", "frames/s", "ratio to bare", "each run", "peak RSS MiB"],
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
