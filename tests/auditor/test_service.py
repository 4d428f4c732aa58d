"""The running service: on-demand audits over NATS, and the automatic repair loop."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from nats.aio.msg import Msg
from prometheus_client import REGISTRY

from petrosa_auditor.app import assemble
from petrosa_auditor.findings import GAPS
from petrosa_auditor.service import AuditorService
from petrosa_auditor.settings import AuditorSettings
from petrosa_core.bus import Bus, connect
from petrosa_core.contracts import BackfillEvent, BackfillRequest, ErrorReply, decode_reply
from petrosa_core.intervals import align
from petrosa_core.leader import LEASE_BUCKET
from petrosa_core.market import MarketStore
from petrosa_core.metadata import BackfillJob, FindingStatus, JobStatus, MetadataStore
from petrosa_core.models import Candle
from petrosa_core.settings import load_settings
from tests.auditor._support import MIN, candles_id, csv_candles, opened, unique, write
from tests.harness.servers import NatsServer

STEP = 5 * MIN
DATASET = candles_id("XRPUSDT", "5m")
WAIT = 20.0


def settings_for(nats_url: str, market: str, metadata: str, **extra: Any) -> AuditorSettings:
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "market_store_url": market,
        "metadata_store_url": metadata,
        "enable_leader_election": False,
        "audit_request_subject": unique("audit.request"),
        "audit_events_subject": unique("audit.events"),
        "backfill_request_subject": unique("backfill.request"),
        "backfill_events_subject": unique("backfill.events"),
    }
    return load_settings(AuditorSettings, **{**values, **extra})


@asynccontextmanager
async def running(
    settings: AuditorSettings, market: MarketStore
) -> AsyncIterator[tuple[AuditorService, Bus, MetadataStore]]:
    """The service leading in this process until the block ends."""
    bus = await connect(settings.nats_url, name="auditor-under-test")
    metadata = await MetadataStore.open(settings.metadata_store_url)
    service = assemble(settings, bus, market, metadata)
    stopping = asyncio.Event()
    task = asyncio.create_task(service.run(stopping), name="auditor-under-test")
    try:
        async with asyncio.timeout(WAIT):
            await service.serving.wait()
        yield service, bus, metadata
    finally:
        stopping.set()
        await task
        await metadata.close()
        await bus.close()


async def eventually(probe: Callable[[], Any], what: str) -> Any:
    """Poll ``probe`` until it returns something truthy."""
    async with asyncio.timeout(WAIT):
        while not (result := await probe()):
            await asyncio.sleep(0.05)
    assert result, what
    return result


def recent(shared: Path) -> list[Candle]:
    """The recorded 5m candles moved in time so that the newest closed a minute ago."""
    candles = csv_candles(shared / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    now_ms = time.time_ns() // 1_000_000
    shift = align(now_ms - 2 * MIN, "5m") - STEP - candles[-1].open_time
    return [
        msgspec.structs.replace(c, open_time=c.open_time + shift, close_time=c.close_time + shift)
        for c in candles
    ]


async def test_an_audit_is_answered_on_request_with_its_report(
    nats_server: NatsServer, sqlite_url: str, tmp_path: Path, shared_data: Path
) -> None:
    candles = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    t = [c.open_time for c in candles]
    meta = f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"
    settings = settings_for(nats_server.url, sqlite_url, meta, audit_interval=3600)

    async with opened(sqlite_url) as store:
        await write(store, candles)
        await store.delete_range(DATASET, t[10], t[12])
        async with running(settings, store) as (_, bus, _):
            ask = {"dataset": str(DATASET), "start": t[0], "end": t[-1] + STEP}
            reply = await bus.client.request(
                settings.audit_request_subject, json.dumps(ask).encode(), timeout=WAIT
            )
            unknown = await bus.client.request(
                settings.audit_request_subject, b'{"dataset": "candles:NOPE:1m"}', timeout=WAIT
            )
            bad = await bus.client.request(settings.audit_request_subject, b"[", timeout=WAIT)
            every = await bus.client.request(
                settings.audit_request_subject, b'{"full": true}', timeout=WAIT
            )

    [report] = json.loads(reply.data)["reports"]
    gaps = next(c for c in report["checks"] if c["check"] == GAPS)
    assert (report["dataset"], report["mode"], report["records"]) == (str(DATASET), "range", 1997)
    assert [(f["range_start"], f["range_end"]) for f in gaps["findings"]] == [(t[10], t[11])]
    [full] = json.loads(every.data)["reports"]
    assert (full["dataset"], full["mode"], full["records"]) == (str(DATASET), "full", 1997)
    score = REGISTRY.get_sample_value("data_manager_audit_health_score", {"dataset": str(DATASET)})
    assert score == full["score"]
    refused = [decode_reply(r.data, msgspec.json.decode) for r in (unknown, bad)]
    assert [(r.code, r.http_status) for r in refused if isinstance(r, ErrorReply)] == [
        ("unknown_dataset", 404),
        ("bad_request", 400),
    ]


async def test_a_long_gap_is_requested_once_and_resolved_after_the_backfill(
    nats_server: NatsServer, sqlite_url: str, tmp_path: Path, shared_data: Path
) -> None:
    candles = recent(shared_data)
    t = [c.open_time for c in candles]
    meta = f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"
    settings = settings_for(
        nats_server.url,
        sqlite_url,
        meta,
        audit_interval=0.2,
        enable_auto_backfill=True,
        min_auto_backfill_gap=600,
    )
    requests: list[dict[str, Any]] = []

    async def backfiller(msg: Msg) -> None:
        requests.append(json.loads(msg.data))
        BackfillRequest.decode(msg.data)  # what the auditor sends is the contract's request
        await msg.respond(b'{"job_id": "job-1", "status": "pending"}')

    async with opened(sqlite_url) as store:
        await write(store, candles)
        await store.delete_range(DATASET, t[-60], t[-48])  # one hour
        await store.delete_range(DATASET, t[-30], t[-29])  # five minutes: left to a person
        async with running(settings, store) as (_, bus, metadata):
            responder = await bus.client.subscribe(settings.backfill_request_subject, cb=backfiller)

            async def gap_findings() -> list[Any]:
                found = await metadata.findings(DATASET)
                return [f for f in found if f.check == GAPS and "backfill_job_id" in f.details]

            [annotated] = await eventually(gap_findings, "a gap finding naming its job")
            await eventually(
                lambda: _audits_since(metadata, annotated.first_seen_at, 3), "three more audits"
            )
            await write(store, candles[-60:-48])
            job = BackfillJob(
                id="job-1",
                dataset_id=str(DATASET),
                symbol="XRPUSDT",
                data_type="candles",
                interval="5m",
                range_start=t[-60],
                range_end=t[-48],
                origin="auditor",
                created_at=t[-1],
                updated_at=t[-1],
                status=JobStatus.COMPLETED,
            )
            done = BackfillEvent.of_job(job, claimable=False, timestamp=t[-1])
            await bus.publish(settings.backfill_events_subject, done.encode())

            async def resolved() -> bool:
                gap = next(f for f in await metadata.findings(DATASET) if f.id == annotated.id)
                return gap.status is FindingStatus.RESOLVED

            await eventually(resolved, "the repaired gap resolved")
            await responder.unsubscribe()

    assert requests == [
        {
            "symbol": "XRPUSDT",
            "data_type": "candles",
            "start": t[-60],
            "end": t[-48],
            "origin": "auditor",
            "interval": "5m",
        }
    ]
    assert (annotated.range_start, annotated.range_end) == (t[-60], t[-49])
    assert annotated.details["backfill_job_id"] == "job-1"


async def _audits_since(metadata: MetadataStore, since: int, count: int) -> bool:
    return len(await metadata.health_history(DATASET, since=since)) > count


async def test_a_term_that_ends_stops_its_audits_before_the_next_term_begins(
    nats_server: NatsServer, sqlite_url: str, tmp_path: Path, shared_data: Path
) -> None:
    meta = f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"
    lease = unique("auditor").replace(".", "_")
    settings = settings_for(
        nats_server.url,
        sqlite_url,
        meta,
        enable_leader_election=True,
        audit_lease_name=lease,
        audit_interval=0.05,
        leader_election_heartbeat_interval=0.2,
        leader_election_timeout=2.0,
    )

    async with opened(sqlite_url) as store:
        await write(
            store, csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
        )
        async with running(settings, store) as (service, bus, metadata):
            assert service.elector is not None
            first = service.elector.fencing_token
            await eventually(lambda: _audits_since(metadata, 0, 2), "audits in the first term")
            # Someone else's hand on the lease: the renewal fails and the term ends.
            await (await bus.js.key_value(LEASE_BUCKET)).delete(lease)

            async def second_term() -> bool:
                token = service.elector.fencing_token if service.elector else None
                return token is not None and token != first

            await eventually(second_term, "a new term")
            second = service.elector.fencing_token
            await eventually(lambda: _tokens_seen(metadata, second), "audits in the second term")
            runs = [h.details for h in await metadata.health_history(DATASET, limit=10_000)]

    old = [r for r in runs if r["token"] == first]
    new = [r for r in runs if r["token"] == second]
    assert len(old) + len(new) == len(runs)
    assert first is not None and second is not None
    assert old and new and second > first
    assert max(r["finished_at"] for r in old) <= min(r["started_at"] for r in new)


async def _tokens_seen(metadata: MetadataStore, token: int | None) -> bool:
    history = await metadata.health_history(DATASET, limit=10_000)
    return any(h.details["token"] == token for h in history)
