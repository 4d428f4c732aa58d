"""The repair loop's bookkeeping against a real metadata store: limits, active jobs, polling."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from petrosa_auditor.context import Scope
from petrosa_auditor.repair import AutoBackfill
from petrosa_auditor.report import DatasetReport
from petrosa_core.contracts import BackfillReply
from petrosa_core.metadata import JobStatus, MetadataStore
from petrosa_core.models import Candle
from tests.auditor._support import MIN, auditor, candles_id, csv_candles, opened, write

STEP = 5 * MIN
HOUR = 12  # five-minute candles
DATASET = candles_id("XRPUSDT", "5m")


@pytest.fixture
def candles(shared_data: Path) -> list[Candle]:
    """The recorded XRPUSDT five-minute candles."""
    return csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)


async def audit_with_holes(
    sqlite_url: str, candles: list[Candle], *holes: tuple[int, int]
) -> DatasetReport:
    """The audit of ``candles`` once stored with each ``(start, end)`` range deleted."""
    async with opened(sqlite_url) as store:
        await write(store, candles)
        for start, end in holes:
            await store.delete_range(DATASET, start, end)
        scope = Scope.between(candles[0].open_time, candles[-1].open_time + STEP)
        return await auditor(store).audit(DATASET, scope)


def repair_asking(
    metadata: MetadataStore, answer: Callable[[dict[str, Any]], Awaitable[bytes]], max_jobs: int
) -> tuple[AutoBackfill, list[dict[str, Any]]]:
    """A repair loop whose backfiller answers with ``answer``, and every request it was sent."""
    sent: list[dict[str, Any]] = []

    async def backfiller(subject: str, payload: bytes, wait: float) -> bytes:
        ask = json.loads(payload)
        sent.append(ask)
        return await answer(ask)

    repair = AutoBackfill(
        backfiller, metadata, subject="backfill", min_gap_seconds=3600, max_jobs=max_jobs, timeout=1
    )
    return repair, sent


async def test_jobs_are_limited_shared_with_active_ones_and_finished_by_their_rows(
    sqlite_url: str, candles: list[Candle], metadata: MetadataStore
) -> None:
    t = [c.open_time for c in candles]

    async def backfiller(ask: dict[str, Any]) -> bytes:
        """Answers as the backfiller does: the job row exists before the reply."""
        job = await metadata.create_job(
            DATASET, data_type=ask["data_type"], start=ask["start"], end=ask["end"]
        )
        return json.dumps({"job_id": job.id, "status": "pending"}).encode()

    repair, sent = repair_asking(metadata, backfiller, max_jobs=2)
    hour_holes = [(t[first], t[first + HOUR]) for first in (100, 300, 500)]
    five_minutes = (t[700], t[701])  # too short to ask for
    report = await audit_with_holes(sqlite_url, candles, *hour_holes, five_minutes)

    active = await metadata.create_job(
        DATASET, data_type="candles", start=t[90], end=t[120], origin="api"
    )
    first_pass = await repair.repair(report)
    second = next(i for ids in first_pass.values() for i in ids if i != active.id)
    assert await metadata.claim_job(second, "worker", 60)
    assert await metadata.finish_job(second, "worker", JobStatus.COMPLETED)
    finished = await repair.poll()
    second_pass = await repair.repair(report)

    gaps = [(t[i], t[i + HOUR - 1]) for i in (100, 300, 500)]
    assert first_pass == {gaps[0]: [active.id], gaps[1]: [second]}
    assert [(f.job.job_id, f.status) for f in finished] == [(second, "completed")]
    # The finished job's gap is still in this old report: asking again would not help.
    assert list(second_pass) == [gaps[0], gaps[2]]
    assert [(a["start"], a["end"]) for a in sent] == [
        (t[300], t[300 + HOUR]),
        (t[500], t[500 + HOUR]),
    ]
    assert set(repair.outstanding) == {active.id, *second_pass[gaps[2]]}


async def test_a_gap_partly_covered_by_an_active_job_is_requested_whole_and_names_every_job(
    sqlite_url: str, candles: list[Candle], metadata: MetadataStore
) -> None:
    t = [c.open_time for c in candles]

    async def backfiller(ask: dict[str, Any]) -> bytes:
        """Answers as the backfiller does: active jobs keep their part, a new job the rest."""
        rest = await metadata.create_job(
            DATASET, data_type="candles", start=active.range_end, end=ask["end"]
        )
        return BackfillReply.of(rest, [active.id, rest.id], [rest.id]).encode()

    repair, sent = repair_asking(metadata, backfiller, max_jobs=5)
    report = await audit_with_holes(sqlite_url, candles, (t[100], t[100 + 2 * HOUR]))
    # Another request's job fills the first half of the gap: the second half is nobody's.
    active = await metadata.create_job(
        DATASET, data_type="candles", start=t[100], end=t[100 + HOUR], origin="api"
    )

    jobs = await repair.repair(report)

    gap = (t[100], t[100 + 2 * HOUR - 1])
    [created] = [job_id for job_id in repair.outstanding if job_id != active.id]
    assert jobs == {gap: [active.id, created]}
    assert [(a["start"], a["end"]) for a in sent] == [(t[100], t[100 + 2 * HOUR])]
    assert {(j.start, j.end) for j in repair.outstanding.values()} == {
        (t[100], t[100 + HOUR]),
        (t[100 + HOUR], t[100 + 2 * HOUR]),
    }


async def test_after_a_request_only_the_rows_of_jobs_not_yet_read_are_read(
    sqlite_url: str, candles: list[Candle], metadata: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = [c.open_time for c in candles]

    async def backfiller(ask: dict[str, Any]) -> bytes:
        rest = await metadata.create_job(
            DATASET, data_type="candles", start=active.range_end, end=ask["end"]
        )
        return BackfillReply.of(rest, [active.id, rest.id], [rest.id]).encode()

    repair, _ = repair_asking(metadata, backfiller, max_jobs=5)
    report = await audit_with_holes(sqlite_url, candles, (t[100], t[100 + 2 * HOUR]))
    active = await metadata.create_job(
        DATASET, data_type="candles", start=t[100], end=t[100 + HOUR], origin="api"
    )
    read: list[str] = []
    get_job = metadata.get_job

    async def counted(job_id: str) -> Any:
        read.append(job_id)
        return await get_job(job_id)

    monkeypatch.setattr(metadata, "get_job", counted)

    await repair.repair(report)

    # The active job's range came with the overlap query: only the new job's row is read.
    [created] = [job_id for job_id in repair.outstanding if job_id != active.id]
    assert read == [created]
