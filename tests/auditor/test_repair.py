"""The repair loop's bookkeeping against a real metadata store: limits, active jobs, polling."""

from __future__ import annotations

import json
from pathlib import Path

from petrosa_auditor.context import Scope
from petrosa_auditor.repair import AutoBackfill
from petrosa_core.metadata import JobStatus, MetadataStore
from tests.auditor._support import MIN, auditor, candles_id, csv_candles, opened, write

STEP = 5 * MIN
HOUR = 12  # five-minute candles
DATASET = candles_id("XRPUSDT", "5m")


async def test_jobs_are_limited_shared_with_active_ones_and_finished_by_their_rows(
    sqlite_url: str, tmp_path: Path, shared_data: Path
) -> None:
    candles = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    t = [c.open_time for c in candles]
    metadata = await MetadataStore.open(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    sent: list[dict[str, object]] = []

    async def backfiller(subject: str, payload: bytes, wait: float) -> bytes:
        """Answers as the backfiller does: the job row exists before the reply."""
        ask = json.loads(payload)
        sent.append(ask)
        job = await metadata.create_job(
            DATASET, data_type=ask["data_type"], start=ask["start"], end=ask["end"]
        )
        return json.dumps({"job_id": job.id, "status": "pending"}).encode()

    repair = AutoBackfill(
        backfiller, metadata, subject="backfill", min_gap_seconds=3600, max_jobs=2, timeout=1
    )
    async with opened(sqlite_url) as store:
        await write(store, candles)
        for first in (100, 300, 500):
            await store.delete_range(DATASET, t[first], t[first + HOUR])
        await store.delete_range(DATASET, t[700], t[701])  # five minutes: too short
        report = await auditor(store).audit(DATASET, Scope.between(t[0], t[-1] + STEP))

    active = await metadata.create_job(
        DATASET, data_type="candles", start=t[90], end=t[120], origin="api"
    )
    first_pass = await repair.repair(report)
    second = next(job_id for job_id in first_pass.values() if job_id != active.id)
    assert await metadata.claim_job(second, "worker", 60)
    assert await metadata.finish_job(second, "worker", JobStatus.COMPLETED)
    finished = await repair.poll()
    second_pass = await repair.repair(report)
    await metadata.close()

    gaps = [(t[i], t[i + HOUR - 1]) for i in (100, 300, 500)]
    assert first_pass == {gaps[0]: active.id, gaps[1]: second}
    assert [(f.job.job_id, f.status) for f in finished] == [(second, "completed")]
    # The finished job's gap is still in this old report: asking again would not help.
    assert list(second_pass) == [gaps[0], gaps[2]]
    assert [(a["start"], a["end"]) for a in sent] == [
        (t[300], t[300 + HOUR]),
        (t[500], t[500 + HOUR]),
    ]
    assert set(repair.outstanding) == {active.id, second_pass[gaps[2]]}
