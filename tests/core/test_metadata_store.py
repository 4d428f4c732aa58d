"""The metadata store on SQLite and MariaDB: catalog, lineage, findings, health, jobs, schemas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import petrosa_core.metadata as metadata_package
from petrosa_core.errors import StoreError, StoreUnavailable, ValidationError
from petrosa_core.metadata import (
    BackfillJob,
    DatasetRecord,
    FindingIn,
    FindingStatus,
    JobStatus,
    LineageRecord,
    MetadataStore,
    check_schema,
)
from petrosa_core.models import DatasetId, DatasetKind
from tests.harness.servers import free_port

T0 = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z
BTC_1M = DatasetId.parse("candles:BTCUSDT:1m")
ETH_1M = DatasetId.parse("candles:ETHUSDT:1m")
BTC_TRADES = DatasetId.parse("trades:BTCUSDT")
MINUTE = 60_000


class Clock:
    """A hand-moved clock in epoch ms, so stored times and lease expiry are exact."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture(params=["sqlite", "mariadb"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "mysql_url"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(url: str, clock: Clock) -> AsyncIterator[MetadataStore]:
    opened = await MetadataStore.open(url, clock=clock)
    yield opened
    await opened.close()


async def replicas(url: str, clock: Clock, count: int) -> list[MetadataStore]:
    """Independent stores, each with its own engine and connections, like separate pods."""
    return [await MetadataStore.open(url, migrate=False, clock=clock) for _ in range(count)]


async def close_all(stores: list[MetadataStore]) -> None:
    for s in stores:
        await s.close()


# Datasets and lineage


async def test_register_dataset_reports_new_only_once(store: MetadataStore) -> None:
    assert await store.register_dataset(BTC_1M, source="binance_ws") is True
    assert await store.register_dataset(BTC_1M, source="binance_rest") is False
    assert await store.get_dataset(BTC_1M) == DatasetRecord(
        id="candles:BTCUSDT:1m",
        kind="candles",
        symbol="BTCUSDT",
        interval="1m",
        source="binance_ws",
        description="BTCUSDT 1m candles (OHLCV) from Binance USD-M futures",
        category="ohlcv",
        update_frequency="1m",
        created_at=T0,
        updated_at=T0,
    )


async def test_a_catalog_entry_says_what_it_is_and_how_often_it_changes(
    store: MetadataStore,
) -> None:
    await store.register_dataset(BTC_TRADES, source="binance_ws")
    await store.register_dataset(
        DatasetId.of(DatasetKind.FUNDING_RATES, "BTCUSDT"), source="binance_rest",
        description="BTCUSDT funding", update_frequency="4h",
    )  # fmt: skip

    funding, trades = await store.list_datasets(symbol="BTCUSDT")
    assert (trades.category, trades.update_frequency) == ("trades", "realtime")
    assert trades.description == "BTCUSDT aggregate and raw trades from Binance USD-M futures"
    assert (funding.category, funding.update_frequency) == ("derivatives", "4h")
    assert funding.description == "BTCUSDT funding"


async def test_register_dataset_race_has_one_winner(store: MetadataStore) -> None:
    results = await asyncio.gather(
        *(store.register_dataset(BTC_TRADES, source=f"w{i}") for i in range(8))
    )
    assert sorted(results) == [False] * 7 + [True]
    assert len(await store.list_datasets()) == 1


async def test_later_description_replaces_the_stored_one(
    store: MetadataStore, clock: Clock
) -> None:
    await store.register_dataset(BTC_1M, source="binance_ws")
    clock.now = T0 + 5
    await store.register_dataset(BTC_1M, source="binance_ws", description="1m candles")
    found = await store.get_dataset("candles:BTCUSDT:1m")
    assert found is not None
    assert (found.description, found.created_at, found.updated_at) == ("1m candles", T0, T0 + 5)
    assert found.dataset == BTC_1M


async def test_list_datasets_filters(store: MetadataStore) -> None:
    for ds in (BTC_1M, ETH_1M, BTC_TRADES, DatasetId.parse("candles:BTCUSDT:5m")):
        await store.register_dataset(ds, source="binance_ws")
    assert [d.id for d in await store.list_datasets()] == [
        "candles:BTCUSDT:1m",
        "candles:BTCUSDT:5m",
        "candles:ETHUSDT:1m",
        "trades:BTCUSDT",
    ]
    by_symbol = await store.list_datasets(kind=DatasetKind.CANDLES, symbol="btcusdt")
    assert [d.id for d in by_symbol] == ["candles:BTCUSDT:1m", "candles:BTCUSDT:5m"]
    assert [d.id for d in await store.list_datasets(interval="1m")] == [
        "candles:BTCUSDT:1m",
        "candles:ETHUSDT:1m",
    ]
    assert await store.get_dataset("depth:BTCUSDT") is None


async def test_lineage_upstream_and_downstream(store: MetadataStore) -> None:
    first = await store.add_lineage(
        BTC_1M,
        source="binance_rest:/fapi/v1/klines",
        process="backfiller",
        job_id="j1",
        start=T0,
        end=T0 + MINUTE,
        record_count=1,
        details={"pages": 1},
    )
    await store.add_lineage("analytics:BTCUSDT:volatility", source=str(BTC_1M), process="analytics")
    assert await store.lineage_for(BTC_1M) == [
        LineageRecord(
            id=first,
            dataset_id="candles:BTCUSDT:1m",
            source="binance_rest:/fapi/v1/klines",
            process="backfiller",
            job_id="j1",
            range_start=T0,
            range_end=T0 + MINUTE,
            record_count=1,
            details={"pages": 1},
            created_at=T0,
        )
    ]
    downstream = await store.lineage_from(BTC_1M)
    assert [(r.dataset_id, r.process, r.details) for r in downstream] == [
        ("analytics:BTCUSDT:volatility", "analytics", None)
    ]


async def test_times_are_native_millisecond_timestamps(store: MetadataStore, url: str) -> None:
    await store.register_dataset(BTC_1M, source="binance_ws")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            raw = await conn.scalar(sa.text("SELECT created_at FROM datasets"))
    finally:
        await engine.dispose()
    expected = datetime(2023, 11, 14, 22, 13, 20, 123000)  # noqa: DTZ001 (stored as naive UTC)
    assert raw in (expected, str(expected))  # SQLite hands back its text form


# Findings and health


async def test_sync_findings_opens_keeps_and_resolves(store: MetadataStore, clock: Clock) -> None:
    gap_a, gap_b = (
        FindingIn("warning", T0, T0 + MINUTE),
        FindingIn("critical", T0 + 5 * MINUTE, T0 + 9 * MINUTE),
    )
    first = await store.sync_findings(BTC_1M, "gaps", [gap_a, gap_b])
    assert [(f.range_start, f.severity, f.status) for f in first.opened] == [
        (T0, "warning", FindingStatus.OPEN),
        (T0 + 5 * MINUTE, "critical", FindingStatus.OPEN),
    ]
    assert (first.still_open, first.resolved) == ([], [])

    clock.now = T0 + 1000
    seen_again = FindingIn("critical", T0, T0 + MINUTE, {"missing": 1})
    second = await store.sync_findings(BTC_1M, "gaps", [seen_again])
    assert second.opened == []
    [kept] = second.still_open
    assert (kept.id, kept.severity, kept.details, kept.first_seen_at, kept.last_seen_at) == (
        first.opened[0].id,
        "critical",
        {"missing": 1},
        T0,
        T0 + 1000,
    )
    assert [(f.id, f.status, f.resolved_at) for f in second.resolved] == [
        (first.opened[1].id, FindingStatus.RESOLVED, T0 + 1000)
    ]
    assert await store.open_findings(BTC_1M) == second.still_open
    assert await store.findings(BTC_1M) == [second.resolved[0], second.still_open[0]]
    assert await store.findings(BTC_1M, include_resolved=False) == second.still_open


async def test_sync_of_one_check_leaves_other_checks_alone(store: MetadataStore) -> None:
    dup = await store.add_finding(BTC_1M, "duplicates", "warning", T0, T0 + 1, {"count": 2})
    other = await store.add_finding(ETH_1M, "gaps", "warning", None, None, {})
    result = await store.sync_findings(BTC_1M, "gaps", [])
    assert result.resolved == []
    assert [f.id for f in await store.open_findings()] == [dup, other]


async def test_resolve_finding_by_hand(store: MetadataStore) -> None:
    finding = await store.add_finding(BTC_1M, "staleness", "critical", None, None, {"age_ms": 9})
    assert await store.resolve_finding(finding) is True
    assert await store.resolve_finding(finding) is False
    assert await store.open_findings() == []
    [resolved] = await store.findings(BTC_1M)
    assert (resolved.status, resolved.resolved_at, resolved.details) == (
        FindingStatus.RESOLVED,
        T0,
        {"age_ms": 9},
    )


async def test_health_latest_and_history(store: MetadataStore) -> None:
    for i, score in enumerate([0.5, 0.75, 1.0]):
        await store.add_health(
            BTC_1M,
            score=score,
            completeness=score,
            validity=1.0,
            freshness=0.25,
            consistency=1.0,
            details={"run": i},
            measured_at=T0 + i * MINUTE,
        )
    await store.add_health(
        ETH_1M,
        score=0.1,
        completeness=0.1,
        validity=0.0,
        freshness=0.0,
        consistency=0.0,
        details={},
        measured_at=T0,
    )
    latest = await store.latest_health(BTC_1M)
    assert latest is not None
    assert (latest.score, latest.freshness, latest.details, latest.measured_at) == (
        1.0,
        0.25,
        {"run": 2},
        T0 + 2 * MINUTE,
    )
    history = await store.health_history(BTC_1M, since=T0 + MINUTE)
    assert [h.score for h in history] == [1.0, 0.75]
    assert [h.score for h in await store.health_history(BTC_1M, limit=1)] == [1.0]
    assert [(h.dataset_id, h.score) for h in await store.latest_health_all()] == [
        ("candles:BTCUSDT:1m", 1.0),
        ("candles:ETHUSDT:1m", 0.1),
    ]
    assert await store.latest_health(BTC_TRADES) is None


# Backfill jobs


async def new_job(
    store: MetadataStore, start: int = T0, end: int = T0 + 60 * MINUTE
) -> BackfillJob:
    return await store.create_job(BTC_1M, data_type="candles", start=start, end=end)


async def test_create_and_read_jobs(store: MetadataStore, clock: Clock) -> None:
    job = await new_job(store)
    assert (job.status, job.symbol, job.interval, job.records_written, job.created_at) == (
        JobStatus.PENDING,
        "BTCUSDT",
        "1m",
        0,
        T0,
    )
    assert len(job.id) == 32
    assert await store.get_job(job.id) == job
    clock.now = T0 + 1
    funding = await store.create_job(
        DatasetId.parse("funding_rates:ETHUSDT"),
        data_type="funding_rates",
        start=0,
        end=1,
        origin="auto",
    )
    assert [j.id for j in await store.list_jobs()] == [funding.id, job.id]
    assert [j.id for j in await store.list_jobs(symbol="ethusdt")] == [funding.id]
    assert [j.id for j in await store.list_jobs(data_type="candles")] == [job.id]
    assert [j.id for j in await store.list_jobs(status=JobStatus.RUNNING)] == []
    assert len(await store.list_jobs(status=[JobStatus.PENDING, JobStatus.RUNNING])) == 2
    assert [j.id for j in await store.list_jobs(limit=1)] == [funding.id]
    assert await store.get_job("0" * 32) is None
    with pytest.raises(ValidationError):
        await new_job(store, start=T0, end=T0)


async def test_find_overlapping_job_among_active_jobs(store: MetadataStore) -> None:
    job = await new_job(store, T0, T0 + 10 * MINUTE)
    assert await store.find_overlapping_job(BTC_1M, T0 + 9 * MINUTE, T0 + 20 * MINUTE) == job
    assert await store.find_overlapping_job(BTC_1M, T0 + 10 * MINUTE, T0 + 20 * MINUTE) is None
    assert await store.find_overlapping_job(BTC_1M, T0 - MINUTE, T0) is None
    assert await store.find_overlapping_job(ETH_1M, T0, T0 + MINUTE) is None
    assert await store.claim_job(job.id, "w1", 30)
    assert await store.finish_job(job.id, "w1", JobStatus.COMPLETED)
    assert await store.find_overlapping_job(BTC_1M, T0, T0 + MINUTE) is None


async def test_find_overlapping_jobs_lists_every_active_job_in_range_order(
    store: MetadataStore,
) -> None:
    right = await new_job(store, T0 + 20 * MINUTE, T0 + 30 * MINUTE)
    left = await new_job(store, T0, T0 + 10 * MINUTE)
    earlier = await new_job(store, T0 - 10 * MINUTE, T0)
    assert await store.claim_job(earlier.id, "w1", 30)
    assert await store.finish_job(earlier.id, "w1", JobStatus.COMPLETED)

    found = await store.find_overlapping_jobs(BTC_1M, T0 - 5 * MINUTE, T0 + 25 * MINUTE)

    assert found == [left, right]
    assert await store.find_overlapping_jobs(BTC_1M, T0 + 10 * MINUTE, T0 + 20 * MINUTE) == []


async def test_concurrent_claims_have_exactly_one_winner(
    store: MetadataStore, url: str, clock: Clock
) -> None:
    jobs = [await new_job(store, T0 + i * MINUTE, T0 + (i + 1) * MINUTE) for i in range(3)]
    pods = await replicas(url, clock, 8)
    try:
        for job in jobs:
            won = await asyncio.gather(
                *(pod.claim_job(job.id, f"pod-{i}", 30) for i, pod in enumerate(pods))
            )
            assert won.count(True) == 1
            holder = await store.get_job(job.id)
            assert holder is not None
            assert (holder.status, holder.claimed_by, holder.attempts) == (
                JobStatus.RUNNING,
                f"pod-{won.index(True)}",
                1,
            )
    finally:
        await close_all(pods)


async def test_concurrent_claim_next_hands_each_job_to_one_pod(
    store: MetadataStore, url: str, clock: Clock
) -> None:
    jobs = {(await new_job(store, T0 + i * MINUTE, T0 + (i + 1) * MINUTE)).id for i in range(3)}
    pods = await replicas(url, clock, 8)
    try:
        got = await asyncio.gather(*(p.claim_next(f"pod-{i}", 30) for i, p in enumerate(pods)))
    finally:
        await close_all(pods)
    claimed = [job for job in got if job is not None]
    assert sorted(j.id for j in claimed) == sorted(jobs)
    assert {j.claimed_by for j in claimed} == {f"pod-{got.index(j)}" for j in claimed}
    assert await store.claim_next("late", 30) is None


async def test_expired_lease_is_taken_over_and_old_worker_is_fenced(
    store: MetadataStore, clock: Clock
) -> None:
    job = await new_job(store)
    assert await store.claim_job(job.id, "dead-pod", lease_seconds=30)
    assert await store.checkpoint(
        job.id,
        "dead-pod",
        position=T0 + 10 * MINUTE,
        records_written=10,
        pages=1,
        weight_used=5,
        progress=16.7,
        details={"last_open_time": T0 + 9 * MINUTE},
    )
    assert await store.claim_next("new-pod", 30) is None  # the lease still runs

    clock.now = T0 + 30_001
    resumed = await store.claim_next("new-pod", 30)
    assert resumed is not None
    assert (resumed.id, resumed.claimed_by, resumed.attempts, resumed.started_at) == (
        job.id,
        "new-pod",
        2,
        T0,
    )
    assert (resumed.checkpoint, resumed.records_written, resumed.checkpoint_details) == (
        T0 + 10 * MINUTE,
        10,
        {"last_open_time": T0 + 9 * MINUTE},
    )
    assert resumed.lease_expires_at == T0 + 60_001

    stale = await store.checkpoint(
        job.id, "dead-pod", position=T0, records_written=99, pages=9, weight_used=9, progress=99.0
    )
    assert stale is False
    assert await store.heartbeat(job.id, "dead-pod", 30) is False
    assert await store.finish_job(job.id, "dead-pod", JobStatus.FAILED) is False
    after = await store.get_job(job.id)
    assert after is not None
    assert (after.records_written, after.status, after.claimed_by) == (
        10,
        JobStatus.RUNNING,
        "new-pod",
    )


async def test_heartbeat_keeps_the_lease(store: MetadataStore, clock: Clock) -> None:
    job = await new_job(store)
    assert await store.claim_job(job.id, "w1", 30)
    clock.now = T0 + 20_000
    assert await store.heartbeat(job.id, "w1", 30) is True
    clock.now = T0 + 40_000  # past the first lease, inside the renewed one
    assert await store.claim_job(job.id, "w2", 30) is False
    held = await store.get_job(job.id)
    assert held is not None
    assert (held.heartbeat_at, held.lease_expires_at) == (T0 + 20_000, T0 + 50_000)


async def test_finish_job_completes_or_fails(store: MetadataStore, clock: Clock) -> None:
    done, broken = await new_job(store), await new_job(store)
    for job in (done, broken):
        assert await store.claim_job(job.id, "w1", 30)
    clock.now = T0 + 7
    assert await store.finish_job(done.id, "w1", JobStatus.COMPLETED) is True
    assert await store.finish_job(
        broken.id, "w1", JobStatus.FAILED, error_code="exchange_418", error_message="banned"
    )
    finished = await store.get_job(done.id)
    failed = await store.get_job(broken.id)
    assert finished is not None and failed is not None
    assert (finished.status, finished.progress, finished.finished_at) == (
        JobStatus.COMPLETED,
        100.0,
        T0 + 7,
    )
    assert finished.lease_expires_at is None
    assert (failed.status, failed.error_code, failed.error_message) == (
        JobStatus.FAILED,
        "exchange_418",
        "banned",
    )
    assert await store.claim_job(done.id, "w2", 30) is False
    with pytest.raises(ValidationError):
        await store.finish_job(done.id, "w1", JobStatus.RUNNING)


async def test_cancel_pending_and_running_jobs(store: MetadataStore, clock: Clock) -> None:
    pending, running = await new_job(store), await new_job(store)
    cancelled = await store.request_cancel(pending.id)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED
    assert await store.claim_job(pending.id, "w1", 30) is False

    assert await store.claim_job(running.id, "w1", 30)
    asked = await store.request_cancel(running.id)
    assert asked is not None
    assert (asked.status, asked.cancel_requested) == (JobStatus.RUNNING, True)
    go_on = await store.checkpoint(
        running.id,
        "w1",
        position=T0 + MINUTE,
        records_written=1,
        pages=1,
        weight_used=5,
        progress=1,
    )
    assert go_on is False  # the worker is told to stop
    assert await store.finish_job(running.id, "w1", JobStatus.CANCELLED)
    final = await store.get_job(running.id)
    assert final is not None
    assert (final.status, final.records_written) == (JobStatus.CANCELLED, 1)
    assert await store.request_cancel("f" * 32) is None


async def test_cancel_of_a_dead_workers_job_closes_it(store: MetadataStore, clock: Clock) -> None:
    job = await new_job(store)
    assert await store.claim_job(job.id, "dead-pod", 30)
    await store.request_cancel(job.id)
    clock.now = T0 + 31_000
    assert await store.claim_next("new-pod", 30) is None
    closed = await store.get_job(job.id)
    assert closed is not None
    assert (closed.status, closed.finished_at) == (JobStatus.CANCELLED, T0 + 31_000)


# Schemas


CANDLE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["open_time", "close"],
    "definitions": {"price": {"type": "number", "minimum": 0}},
    "properties": {"open_time": {"type": "integer"}, "close": {"$ref": "#/definitions/price"}},
}


async def test_schema_registry_versions(store: MetadataStore, clock: Clock) -> None:
    assert await store.register_schema("candle", 1, CANDLE_SCHEMA) is True
    assert await store.register_schema("candle", 1, CANDLE_SCHEMA) is False
    v2 = {**CANDLE_SCHEMA, "required": ["open_time"]}
    clock.now = T0 + 1
    assert await store.register_schema("candle", 2, v2) is True
    await store.register_schema("trade", 1, {"type": "object"})
    latest = await store.get_schema("candle")
    assert latest is not None
    assert (latest.version, latest.document, latest.created_at) == (2, v2, T0 + 1)
    first = await store.get_schema("candle", 1)
    assert first is not None and first.document == CANDLE_SCHEMA
    assert await store.get_schema("candle", 3) is None
    assert [(s.name, s.version) for s in await store.list_schemas()] == [
        ("candle", 1),
        ("candle", 2),
        ("trade", 1),
    ]
    with pytest.raises(ValidationError) as changed:
        await store.register_schema("candle", 1, v2)
    assert changed.value.reason == "schema_version_exists"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"type": "nosuchtype"}, "invalid_schema"),
        ({"minimum": "zero"}, "invalid_schema"),
        ({"properties": ["open_time"]}, "invalid_schema"),
        ({"pattern": "("}, "invalid_schema"),
        ({"$schema": "https://json-schema.org/draft/2020-12/schema"}, "unsupported_schema_draft"),
        ({"$ref": "http://127.0.0.1:9/candle.json"}, "remote_schema_ref"),
        ({"$ref": "file:///etc/passwd"}, "remote_schema_ref"),
    ],
)
def test_bad_schema_is_rejected(document: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as rejected:
        check_schema(document)
    assert rejected.value.reason == reason


async def test_bad_schema_is_not_stored(store: MetadataStore) -> None:
    with pytest.raises(ValidationError) as rejected:
        await store.register_schema("broken", 1, {"type": "nosuchtype"})
    assert rejected.value.reason == "invalid_schema"
    assert await store.list_schemas() == []


# Errors and surface


async def test_unreachable_database_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await MetadataStore.open(f"mysql+asyncmy://root@127.0.0.1:{free_port()}/nowhere")


async def test_ping_answers_or_reports_unavailable(store: MetadataStore) -> None:
    await store.ping()
    dead = MetadataStore(create_async_engine(f"mysql+asyncmy://root@127.0.0.1:{free_port()}/x"))
    with pytest.raises(StoreUnavailable):
        await dead.ping()
    await dead.close()


async def test_other_failures_are_store_errors(store: MetadataStore) -> None:
    with pytest.raises(StoreError) as failed:
        await store.add_lineage(BTC_1M, source="s", process="p", details={"when": object()})
    assert not isinstance(failed.value, StoreUnavailable)


async def test_opening_an_unmigrated_database_without_migrating_fails(url: str) -> None:
    with pytest.raises(StoreError, match="run petrosa migrate"):
        await MetadataStore.open(url, migrate=False)


def test_public_surface() -> None:
    assert sorted(metadata_package.__all__) == [
        "ACTIVE_STATUSES", "BackfillJob", "CatalogFacts", "DatasetRecord", "FINAL_STATUSES",
        "Finding", "FindingIn", "FindingStatus", "HealthRecord", "JobStatus", "LineageRecord",
        "MIGRATIONS", "MetadataStore", "SCHEMA_STATUSES", "SCHEMA_STORES", "SchemaRecord",
        "SyncResult", "VERSION_TABLE", "canonical", "catalog_facts", "check_schema", "fingerprint",
    ]  # fmt: skip
