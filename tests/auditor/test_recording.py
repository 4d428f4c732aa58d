"""Findings become audit_logs rows that later audits resolve; health history; NATS events."""

from __future__ import annotations

import json
import os
from pathlib import Path

from petrosa_auditor.context import Scope
from petrosa_auditor.findings import FRESHNESS, GAPS
from petrosa_auditor.recorder import Recorder, Run
from petrosa_core.bus import Bus
from petrosa_core.contracts import AuditEvent
from petrosa_core.metadata import FindingStatus, MetadataStore
from tests.auditor._support import MIN, auditor, candles_id, csv_candles, opened, unique, write

STEP = 5 * MIN
DATASET = candles_id("XRPUSDT", "5m")


async def test_a_gap_opens_a_finding_that_resolves_once_filled_and_both_are_told(
    sqlite_url: str, metadata: MetadataStore, bus: Bus, shared_data: Path
) -> None:
    candles = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    t = [c.open_time for c in candles]
    scope = Scope.between(t[0], t[-1] + STEP)
    subject = unique("audit.events")
    events = await bus.client.subscribe(subject)
    recorder = Recorder(metadata, bus.publish, subject)

    async with opened(sqlite_url) as store:
        await write(store, candles)
        await store.delete_range(DATASET, t[100], t[103])
        await recorder.record(await auditor(store).audit(DATASET, scope), Run(3))
        opened_gaps = [f for f in await metadata.open_findings(DATASET) if f.check == GAPS]
        await write(store, candles[100:103])
        await recorder.record(await auditor(store).audit(DATASET, scope), Run(4))

    await bus.client.flush()
    raw = [(await events.next_msg(timeout=5)).data for _ in range(3)]
    told = [json.loads(data) for data in raw]
    assert events.pending_msgs == 0
    gaps = [f for f in await metadata.findings(DATASET) if f.check == GAPS]
    history = await metadata.health_history(DATASET)

    assert [(f.range_start, f.range_end, f.status) for f in opened_gaps] == [
        (t[100], t[102], FindingStatus.OPEN)
    ]
    assert [(f.id, f.status) for f in gaps] == [(opened_gaps[0].id, FindingStatus.RESOLVED)]
    assert sorted((e["type"], e["check"]) for e in told) == [
        ("finding_opened", FRESHNESS),  # the recording is years old: an error-grade staleness
        ("finding_opened", GAPS),
        ("finding_resolved", GAPS),
    ]
    gap_event = next(e for e in told if e["type"] == "finding_opened" and e["check"] == GAPS)
    assert (gap_event["dataset_id"], gap_event["range_start"], gap_event["range_end"]) == (
        str(DATASET),
        t[100],
        t[102],
    )
    assert [AuditEvent.decode(data).type for data in raw] == [e["type"] for e in told]
    assert [h.completeness for h in history] == [1.0, (len(t) - 3) / len(t)]
    assert [(h.details["token"], h.details["pid"]) for h in history] == [
        (4, os.getpid()),
        (3, os.getpid()),
    ]


async def test_a_narrower_audit_leaves_findings_outside_its_range_open(
    sqlite_url: str, metadata: MetadataStore, shared_data: Path
) -> None:
    candles = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    t = [c.open_time for c in candles]
    recorder = Recorder(metadata)

    async with opened(sqlite_url) as store:
        await write(store, candles)
        await store.delete_range(DATASET, t[100], t[101])
        await store.delete_range(DATASET, t[1500], t[1501])
        await recorder.record(
            await auditor(store).audit(DATASET, Scope.between(t[0], t[-1] + STEP)), Run(1)
        )
        await write(store, candles[1500:1501])
        await recorder.record(
            await auditor(store).audit(DATASET, Scope.between(t[1000], t[-1] + STEP)), Run(1)
        )

    gaps = [f for f in await metadata.findings(DATASET) if f.check == GAPS]
    assert sorted((f.range_start, f.status) for f in gaps) == [
        (t[100], FindingStatus.OPEN),
        (t[1500], FindingStatus.RESOLVED),
    ]
