"""Ingest scale-out: one, two and three ingestor processes on one durable consumer.

The recorded kind mix (looped, ids and times shifted so every frame is a new record) is
published once into one JetStream stream. Each run creates a fresh durable consumer on
that stream, paused, starts N ``python -m petrosa_ingestor`` processes sharing it (each
with MariaDB, which takes concurrent writers), waits until all are ready, then resumes
the consumer: the processes start together and drain the whole stream between them.

Reported per N, medians of ``BENCH_SCALE_REPEATS`` interleaved runs: frames/s, the
scaling efficiency (frames/s over N times the one-process figure), each process's CPU
use while draining (100% is one core), nats-server's, how busy the whole machine was
(every process on it, the database's too), and the ingestors' CPU seconds per 1,000
frames. On a machine with
fewer cores than processes (plus nats-server and the database) the absolute gain is
bounded by the cores; the CPU cost per frame says what a core per process would give:
with CPU-bound ingestors, N processes on N cores drain N / cost(N) frames a second, so
the expected efficiency there is cost(1) / cost(N).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._report import table
from benchmarks.bench_ingest import (
    STREAM,
    SUBJECT,
    drain_seconds,
    publish_all,
    shifted_frames,
)
from petrosa_core.bus import connect, ensure_pull_consumer, ensure_stream
from petrosa_ingestor.settings import IngestorSettings
from tests.harness.servers import MariaDB, NatsServer, free_port
from tests.ingestor._support import wait_ready

REPO = Path(__file__).resolve().parents[1]
TOTAL_FRAMES = int(os.environ.get("BENCH_SCALE_FRAMES", "100000"))
REPEATS = int(os.environ.get("BENCH_SCALE_REPEATS", "2"))
PROCESSES = (1, 2, 3)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The ingestor's own consumer settings, so its start-up check finds nothing to change.
DEFAULTS = IngestorSettings.model_fields


@dataclass
class Run:
    seconds: float
    cpu: list[float]  # CPU seconds of each ingestor while draining
    nats_cpu: float
    busy: float  # share of all the machine's cores in use while draining


def machine_ticks() -> tuple[int, int]:
    """Busy and total CPU ticks of the whole machine so far, from /proc/stat."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds ``pid`` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def paused_consumer(url: str, durable: str) -> None:
    """The ingestors' durable consumer, created paused so none starts before the others."""
    bus = await connect(url, name="bench-setup")
    try:
        await ensure_pull_consumer(
            bus,
            STREAM,
            durable,
            filter_subject=SUBJECT,
            max_ack_pending=DEFAULTS["ingest_max_ack_pending"].default,
            ack_wait=DEFAULTS["ingest_ack_wait"].default,
        )
        until = datetime.now(UTC) + timedelta(minutes=10)
        await bus.js.pause_consumer(STREAM, durable, until.strftime("%Y-%m-%dT%H:%M:%SZ"))
    finally:
        await bus.close()


async def resume(url: str, durable: str) -> None:
    bus = await connect(url, name="bench-setup")
    try:
        await bus.js.resume_consumer(STREAM, durable)
    finally:
        await bus.close()


async def start_ingestor(
    url: str, durable: str, market_url: str, workdir: Path
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": url,
        "NATS_CONSUMER_SUBJECT": SUBJECT,
        "NATS_STREAM_NAME": STREAM,
        "NATS_CONSUMER_DURABLE": durable,
        "NATS_STREAM_MAX_BYTES": str(2 * 1024**3),
        "MARKET_STORE_URL": market_url,
        "METADATA_STORE_URL": f"sqlite+aiosqlite:///{workdir / f'{uuid.uuid4().hex}.db'}",
        "METRICS_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petrosa_ingestor", env=env, cwd=REPO
    )
    return proc, port


async def run_processes(url: str, n: int, market_url: str, workdir: Path, nats_pid: int) -> Run:
    durable = f"scale_{n}_{uuid.uuid4().hex[:6]}"
    await paused_consumer(url, durable)
    started = [await start_ingestor(url, durable, market_url, workdir) for _ in range(n)]
    try:
        for _, port in started:
            await wait_ready(port, timeout=60)
        before = [cpu_seconds(proc.pid) for proc, _ in started]
        nats_before, machine_before = cpu_seconds(nats_pid), machine_ticks()
        began = time.perf_counter()
        await resume(url, durable)
        seconds = await drain_seconds(url, durable, TOTAL_FRAMES)
        # The drain clock starts at the first delivery; CPU is counted from the resume.
        wall = time.perf_counter() - began
        cpu = [cpu_seconds(proc.pid) - b for (proc, _), b in zip(started, before, strict=True)]
        busy, total = (a - b for a, b in zip(machine_ticks(), machine_before, strict=True))
        nats_cpu = cpu_seconds(nats_pid) - nats_before
        return Run(seconds, [c * seconds / wall for c in cpu], nats_cpu, busy / max(total, 1))
    finally:
        for proc, _ in started:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in started:
            await asyncio.wait_for(proc.wait(), 60)


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = NatsServer(workdir / "nats")
        mariadb = MariaDB(workdir / "mariadb")
        server.start()
        mariadb.start()
        try:
            await _run(server, mariadb, workdir)
        finally:
            mariadb.stop()
            server.stop()


async def _run(server: NatsServer, mariadb: MariaDB, workdir: Path) -> None:
    bus = await connect(server.url, name="bench-setup")
    await ensure_stream(bus, STREAM, [SUBJECT], max_bytes=2 * 1024**3)
    await bus.close()
    await publish_all(server.url, shifted_frames(TOTAL_FRAMES))
    assert server.proc is not None
    runs: dict[int, list[Run]] = {n: [] for n in PROCESSES}
    for _ in range(REPEATS):  # interleaved, so a noisy spell hits every N alike
        for n in PROCESSES:
            market_url = mariadb.create_database()
            runs[n].append(await run_processes(server.url, n, market_url, workdir, server.proc.pid))
            mariadb.drop_database(market_url)
    print(report(runs))


def report(runs: dict[int, list[Run]]) -> str:
    rate = {n: TOTAL_FRAMES / statistics.median(r.seconds for r in runs[n]) for n in runs}
    cost = {n: statistics.median(sum(r.cpu) for r in runs[n]) / TOTAL_FRAMES for n in runs}
    rows = []
    for n in PROCESSES:
        per_process = [statistics.median(r.cpu[i] / r.seconds for r in runs[n]) for i in range(n)]
        rows.append(
            [
                str(n),
                f"{rate[n]:,.0f}",
                f"{rate[n] / rate[1]:.2f}",
                f"{rate[n] / (n * rate[1]):.2f}",
                " ".join(f"{p:.0%}" for p in per_process),
                f"{statistics.median(r.nats_cpu / r.seconds for r in runs[n]):.0%}",
                f"{statistics.median(r.busy for r in runs[n]):.0%}",
                f"{cost[n] * 1000:.3f}",
                f"{cost[1] / cost[n]:.2f}",
            ]
        )
    return table(
        f"Ingest scale-out: {TOTAL_FRAMES:,} frames, recorded kind mix, MariaDB, "
        f"one durable consumer, {os.cpu_count()} cores, median of {REPEATS} runs",
        [
            "processes",
            "frames/s",
            "speed-up",
            "efficiency",
            "CPU per process",
            "nats-server CPU",
            "machine busy",
            "CPU s / 1k frames",
            "expected efficiency, a core each",
        ],
        rows,
    )
