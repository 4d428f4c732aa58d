"""The whole repair loop, end to end with real processes.

Ingestor, auditor and backfiller run as their own processes on one NATS and shared SQLite
stores. The recorded frames (moved to the present, as the demo feed does) and three hours
of one symbol's candles are ingested; thirty minutes of those candles are then deleted.
The auditor must find the gap, ask the backfiller to fill it from the fake exchange, and
re-audit the dataset back to full completeness with the gap finding resolved. The ingested
candles are the fake exchange's own generated ones, so the repair must restore them exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from nats.aio.msg import Msg

from petrosa_cli.replay import Replay
from petrosa_core.bus import Bus, connect
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.metadata import FINAL_STATUSES, FindingStatus, HealthRecord, MetadataStore
from petrosa_core.models import DatasetId, DatasetKind
from tests.backfiller.test_jobs_support import KLINES, Backfill, stored
from tests.fakes.binance_data import candle_from_row, generated_kline
from tests.fakes.binance_exchange import FakeBinance
from tests.harness.servers import NatsServer, free_port
from tests.ingestor._support import Ingest, publish, wait_ready

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
SYMBOL = "LOOPUSDT"
DATASET = DatasetId.of(DatasetKind.CANDLES, SYMBOL, "1m")
CANDLES = 180  # three hours of one-minute candles
LOST_FROM, LOST = 70, 30  # candles 70..99, half an hour, are deleted
# Every wait is bounded by this; on a quiet machine the whole loop takes seconds.
WAIT = 90.0
# Candles are due this long after they close, so the newest ingested minutes never turn
# into a trailing gap while the test runs: the deleted range is the only thing missing.
FRESHNESS_GRACE = 600
# The auditor's re-audit reads this far either side of a repaired range (REAUDIT_MARGIN_MS).
REAUDIT_MARGIN = HOUR_MS
STOP_TIMEOUT = 15.0


class Service:
    """One service process, its metrics port and its log file."""

    def __init__(self, module: str, env: dict[str, str], log: Path) -> None:
        self.module, self.log = module, log
        self.port = free_port()
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module],
                env={**os.environ, **env, "METRICS_PORT": str(self.port)},
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.module} (exit {self.proc.poll()}):\n{self.log.read_text()[-chars:]}"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in time."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[list[Service]]:
    started: list[Service] = []
    yield started
    await asyncio.gather(*(asyncio.to_thread(service.stop) for service in started))


async def launch(
    services: list[Service], module: str, env: dict[str, str], tmp_path: Path
) -> Service:
    service = Service(module, env, tmp_path / f"{module}.log")
    services.append(service)
    await wait_ready(service.port, timeout=WAIT)
    return service


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def kline_frame(row: list[Any]) -> bytes:
    """A closed 1m kline frame of ``SYMBOL`` carrying a REST kline row's values."""
    t, o, h, low, c, v, close_time, q, n, taker_base, taker_quote, _ = row
    k = {
        **{"t": t, "T": close_time, "s": SYMBOL, "i": "1m", "f": 0, "L": n - 1},
        **{"o": o, "c": c, "h": h, "l": low, "v": v, "n": n, "x": True},
        **{"q": q, "V": taker_base, "Q": taker_quote, "B": "0"},
    }
    data = {"e": "kline", "E": close_time + 1, "s": SYMBOL, "k": k}
    return json.dumps({"stream": f"{SYMBOL.lower()}@kline_1m", "data": data}).encode()


def recorded_frames_moved_to(shared_data: Path, now: int) -> list[bytes]:
    """The recorded frames replayed a few minutes before ``now``; otherwise unchanged.

    Left in 2021, every recorded candle dataset would be a gap from 2021 to now.
    """
    with (shared_data / "binance_usdm_ws_frames.jsonl").open() as f:
        frames = [json.loads(line) for line in f if line.strip()]
    replay = Replay(frames)
    loop = replay.loop_of(now) - 3
    return [json.dumps(replay.shifted(frame, loop)).encode() for frame in frames]


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, services: list[Service]
) -> T:
    """``probe()``'s first value that is not None; on timeout, fail with the services' logs."""
    try:
        async with asyncio.timeout(WAIT):
            while (value := await probe()) is None:
                for service in services:
                    assert service.proc.poll() is None, f"{what}: exited\n{service.tail()}"
                await asyncio.sleep(0.1)
            return value
    except TimeoutError:
        logs = "\n".join(service.tail() for service in services)
        raise AssertionError(f"no {what} within {WAIT:.0f} s\n{logs}") from None


async def ingest_everything(bus: Bus, ingest: Ingest, frames: list[bytes]) -> None:
    """Publish ``frames`` and wait until the ingestor has stored and acked every one."""
    await publish(bus.client, ingest.subject, frames)
    async with asyncio.timeout(WAIT):
        while (await bus.js.stream_info(ingest.stream)).state.messages < len(frames):
            await asyncio.sleep(0.05)
    await ingest.wait_consumed(bus, timeout=WAIT)


def auditor_env(ingest: Ingest, backfill: Backfill) -> dict[str, str]:
    return {
        "NATS_URL": ingest.nats_url,
        "MARKET_STORE_URL": ingest.market_url,
        "METADATA_STORE_URL": ingest.metadata_url,
        "LOG_LEVEL": "INFO",
        "ENABLE_LEADER_ELECTION": "true",
        "LEADER_ELECTION_HEARTBEAT_INTERVAL": "0.3",
        "LEADER_ELECTION_TIMEOUT": "2",
        "AUDIT_LEASE_NAME": unique("repair_loop"),
        "AUDIT_INTERVAL": "1",
        "AUDIT_WINDOW": str(4 * 3600),
        "AUDIT_FRESHNESS_GRACE": str(FRESHNESS_GRACE),
        "AUDIT_REQUEST_SUBJECT": unique("test.audit.request"),
        "AUDIT_EVENTS_SUBJECT": unique("test.audit.events"),
        "ENABLE_AUTO_BACKFILL": "true",
        "MIN_AUTO_BACKFILL_GAP": "600",
        "MAX_AUTO_BACKFILL_JOBS": "2",
        "BACKFILL_REQUEST_SUBJECT": backfill.subjects["request"],
        "BACKFILL_EVENTS_SUBJECT": backfill.subjects["events"],
    }


class AuditEvents:
    """Gap finding events of ``DATASET`` on the auditor's events subject, as they arrive."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def on_message(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        if event.get("dataset_id") == str(DATASET) and event.get("check") == "gaps":
            self.seen.append(event)

    async def first(self, kind: str) -> dict[str, Any] | None:
        return next((e for e in self.seen if e["type"] == kind), None)


async def test_a_deleted_range_is_found_backfilled_and_reaudited_to_full_health(
    nats_server: NatsServer,
    fake: FakeBinance,
    services: list[Service],
    shared_data: Path,
    tmp_path: Path,
) -> None:
    now = time.time_ns() // 1_000_000
    first_open = (now // MINUTE_MS - CANDLES) * MINUTE_MS  # the newest candle has closed
    rows = [generated_kline(SYMBOL, "1m", first_open + i * MINUTE_MS) for i in range(CANDLES)]
    lost_start = first_open + LOST_FROM * MINUTE_MS
    lost_end = lost_start + LOST * MINUTE_MS
    ingest = Ingest(
        nats_server.url,
        f"sqlite+aiosqlite:///{tmp_path / 'market.db'}",
        f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}",
    )
    backfill = Backfill(nats_server.url, ingest.market_url, ingest.metadata_url, fake.url)
    env = auditor_env(ingest, backfill)
    audit_events = AuditEvents()
    # Opened (and migrated) before any service starts, which then finds the schema in place.
    market: MarketStore = await open_market_store(ingest.market_url)
    metadata = await MetadataStore.open(ingest.metadata_url)
    bus = await connect(nats_server.url, name="repair-loop-test")
    try:
        await launch(services, "petrosa_ingestor", ingest.env(), tmp_path)
        frames = recorded_frames_moved_to(shared_data, now) + [kline_frame(r) for r in rows]
        await ingest_everything(bus, ingest, frames)
        ingested = await stored(market, str(DATASET))
        deleted = await market.delete_range(DATASET, lost_start, lost_end)

        await bus.client.subscribe(env["AUDIT_EVENTS_SUBJECT"], cb=audit_events.on_message)
        await bus.client.flush()
        await launch(services, "petrosa_backfiller", backfill.env(LOG_LEVEL="INFO"), tmp_path)
        await launch(services, "petrosa_auditor", env, tmp_path)

        opened = await eventually(
            lambda: audit_events.first("finding_opened"), "gap finding opened", services
        )
        assert "backfill_job_id" in opened["details"], f"no backfill asked for: {opened}"
        job_id = opened["details"]["backfill_job_id"]

        async def job_finished() -> Any:
            job = await metadata.get_job(job_id)
            return job if job is not None and job.status in FINAL_STATUSES else None

        job = await eventually(job_finished, "finished backfill job", services)

        async def reaudit() -> HealthRecord | None:
            history = await metadata.health_history(DATASET, limit=10_000)
            return next((h for h in history if h.details["mode"] == "range"), None)

        reaudited = await eventually(reaudit, "re-audit of the repaired range", services)
        resolved = await eventually(
            lambda: audit_events.first("finding_resolved"), "gap finding resolved", services
        )
        findings = [f for f in await metadata.findings(DATASET) if f.check == "gaps"]
        history = await metadata.health_history(DATASET, limit=10_000)
        jobs = await metadata.list_jobs()
        restored = await stored(market, str(DATASET))
        assert all(s.proc.poll() is None for s in services), "a service exited mid-test"
    finally:
        await bus.close()
        await metadata.close()
        await market.close()

    assert ingested == [candle_from_row(SYMBOL, "1m", r) for r in rows]
    assert deleted == LOST

    # The auditor saw the half hour missing and asked for exactly that range, once.
    assert (opened["status"], opened["range_start"], opened["range_end"]) == (
        "open",
        lost_start,
        lost_end - MINUTE_MS,
    )
    assert opened["details"] == {
        "missing": LOST,
        "interval": "1m",
        "backfill_job_id": job_id,
        "backfill_job_ids": [job_id],
    }
    assert [j.id for j in jobs] == [job_id]
    assert (job.status.value, job.dataset_id, job.range_start, job.range_end) == (
        "completed",
        str(DATASET),
        lost_start,
        lost_end,
    )
    assert (job.records_written, job.origin) == (LOST, "auditor")
    served = [f.start_time for f in fake.stats().served(KLINES) if f.symbol == SYMBOL]
    assert served == [lost_start]

    # The backfilled candles are the fake exchange's, which are exactly what was ingested.
    assert restored == ingested

    # Before the repair the dataset was 30 candles short; the re-audit finds it whole.
    before = history[-1]
    expected = before.details["expected"]
    assert before.details["records"] == CANDLES - LOST
    assert before.details["counts"]["missing"] == LOST
    assert before.completeness == (expected - LOST) / expected
    span = (lost_start - REAUDIT_MARGIN, lost_end + REAUDIT_MARGIN)
    assert (reaudited.details["start"], reaudited.details["end"]) == span
    assert (reaudited.details["records"], reaudited.details["expected"]) == (150, 150)
    assert reaudited.completeness == 1.0
    assert reaudited.details["findings"]["gaps"] == 0
    assert history[0].completeness == 1.0

    [finding] = findings
    assert (finding.id, finding.status) == (opened["finding_id"], FindingStatus.RESOLVED)
    assert (resolved["finding_id"], resolved["status"]) == (finding.id, "resolved")
    assert finding.resolved_at is not None and job.finished_at is not None
    assert finding.resolved_at >= job.finished_at
