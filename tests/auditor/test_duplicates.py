"""Legacy MongoDB copies of one natural key under random ObjectIds: found, and removed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from petrosa_auditor.audit import Auditor
from petrosa_auditor.context import AuditConfig, Scope
from petrosa_auditor.findings import DUPLICATES, GAPS, WARNING
from petrosa_auditor.recorder import Recorder, Run
from petrosa_core.market import DuplicateScanner, open_duplicate_scanner
from petrosa_core.market._mongo_layout import to_document
from petrosa_core.metadata import FindingStatus, MetadataStore
from petrosa_core.models import Candle
from tests.auditor._support import MIN, candles_id, csv_candles, findings, opened, ranges, write

STEP = 5 * MIN
DATASET = candles_id("XRPUSDT", "5m")
Doc = dict[str, Any]


def object_id(seconds: int, n: int) -> ObjectId:
    """An ObjectId created at ``seconds`` (epoch), as the legacy writer would have made."""
    return ObjectId(seconds.to_bytes(4, "big") + n.to_bytes(8, "big"))


def legacy(c: Candle, close: float, created: int) -> Doc:
    doc = to_document(msgspec.structs.replace(c, close=close, high=max(c.high, close)))
    doc["_id"] = object_id(created, c.open_time)
    return doc


@pytest.fixture
async def raw(mongo_url: str) -> AsyncIterator[AsyncCollection[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url)
    try:
        yield client.get_default_database()["candles_XRPUSDT_5m"]
    finally:
        await client.close()


async def seed(url: str, raw: AsyncCollection[Doc], shared: Path) -> list[Candle]:
    """300 real candles through the store, then legacy copies of four keys."""
    candles = csv_candles(shared / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)[:300]
    async with opened(url) as store:
        await write(store, candles)
    c = candles
    await raw.delete_one({"_id": str(c[200].open_time)})  # this key exists only as copies
    await raw.insert_many(
        [
            legacy(c[50], 1.0, 1_600_000_000),
            legacy(c[50], 2.0, 1_600_000_100),
            legacy(c[100], 3.0, 1_600_000_000),
            legacy(c[101], 3.0, 1_600_000_000),
            legacy(c[200], 4.0, 1_600_000_000),
            legacy(c[200], 5.0, 1_600_000_100),
        ]
    )
    return candles


def scanner(url: str) -> DuplicateScanner:
    opened = open_duplicate_scanner(url)
    assert opened is not None
    return opened


async def test_copies_under_other_ids_are_found_as_runs_of_keys(
    mongo_url: str, raw: AsyncCollection[Doc], shared_data: Path
) -> None:
    candles = await seed(mongo_url, raw, shared_data)
    t = [c.open_time for c in candles]
    legacy_scan = scanner(mongo_url)
    async with opened(mongo_url) as store:
        report = await Auditor(store, AuditConfig(), duplicates=legacy_scan).audit(
            DATASET, Scope.between(t[0], t[-1] + STEP)
        )
    await legacy_scan.close()

    assert ranges(report, DUPLICATES) == [(t[50], t[50]), (t[100], t[101]), (t[200], t[200])]
    assert {f.severity for f in findings(report, DUPLICATES)} == {WARNING}
    assert findings(report, DUPLICATES)[0].details["copies"] == 3
    assert findings(report, DUPLICATES)[1].details["count"] == 2
    assert ranges(report, GAPS) == []
    assert report.counts["extra_copies"] == 5
    assert report.removed == []
    assert await raw.count_documents({}) == 305


@pytest.mark.parametrize(
    ("strategy", "close_50", "close_100", "close_200"),
    [("keep_newest", None, None, 5.0), ("keep_oldest", 1.0, 3.0, 4.0)],
)
async def test_removal_keeps_the_copy_the_strategy_names(
    mongo_url: str,
    sqlite_url: str,
    raw: AsyncCollection[Doc],
    shared_data: Path,
    strategy: Any,
    close_50: float | None,
    close_100: float | None,
    close_200: float,
) -> None:
    candles = await seed(mongo_url, raw, shared_data)
    t = [c.open_time for c in candles]
    legacy_scan = scanner(mongo_url)
    metadata = await MetadataStore.open(sqlite_url)
    async with opened(mongo_url) as store:
        remover = Auditor(store, AuditConfig(), duplicates=legacy_scan, removal=strategy)
        report = await remover.audit(DATASET, Scope.full())
        await Recorder(metadata).record(report, Run(7))
        after = await remover.audit(DATASET, Scope.full())
        page = await store.query(DATASET, limit=1000)
        stored = {c.open_time: c.close for c in page.records if isinstance(c, Candle)}
    recorded = [f for f in await metadata.findings(DATASET) if f.check == DUPLICATES]
    await metadata.close()
    await legacy_scan.close()

    # The store's own document counts as the newest copy: legacy writers came first.
    assert stored[t[50]] == (close_50 or candles[50].close)
    assert stored[t[100]] == (close_100 or candles[100].close)
    assert stored[t[101]] == (close_100 or candles[101].close)
    assert stored[t[200]] == close_200
    assert len(stored) == 300
    assert sorted([str(d["_id"]) async for d in raw.find({}, {"_id": 1})]) == sorted(
        str(c.open_time) for c in candles
    )
    assert [(r.time, len(r.removed)) for r in report.removed] == [
        (t[50], 2),
        (t[100], 1),
        (t[101], 1),
        (t[200], 2),
    ]
    assert findings(after, DUPLICATES) == []
    assert [(f.status, f.range_start, f.range_end, f.details["removed"]) for f in recorded] == [
        (FindingStatus.RESOLVED, t[200], t[200], True),
        (FindingStatus.RESOLVED, t[100], t[101], True),
        (FindingStatus.RESOLVED, t[50], t[50], True),
    ]


def test_sql_stores_get_no_scanner_as_they_cannot_hold_copies(sqlite_url: str) -> None:
    assert open_duplicate_scanner(sqlite_url) is None
    assert open_duplicate_scanner("mysql+asyncmy://root@127.0.0.1/petrosa") is None
