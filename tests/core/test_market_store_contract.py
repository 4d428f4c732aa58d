"""The MarketStore contract: every backend passes these same tests, unchanged.

Each test runs on SQLite, MariaDB and MongoDB through ``open_market_store(url)``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from petrosa_core.errors import ConfigError, StoreUnavailable, ValidationError
from petrosa_core.market import DatasetInfo, MarketStore, WriteResult, open_market_store
from petrosa_core.models import Candle, DatasetId, DatasetKind, DepthUpdate, Record
from tests.core.market_samples import (
    C1M,
    DEPTH,
    MIN,
    ROUND_TRIP,
    SUSHI,
    T0,
    TRADES,
    candle,
    depth,
    read_all,
    trade,
)
from tests.harness.servers import free_port


@pytest.mark.parametrize("name", list(ROUND_TRIP))
async def test_every_kind_round_trips_field_for_field(store: MarketStore, name: str) -> None:
    record = ROUND_TRIP[name]
    assert await store.write(record.dataset, [record]) == WriteResult(1, 0, 0)
    page = await store.query(record.dataset)
    assert page.records == [record]
    assert type(page.records[0]) is type(record)
    assert page.next_cursor is None


async def test_new_records_count_as_inserted(store: MarketStore) -> None:
    batch = [candle(T0 + i * MIN) for i in range(10)]
    assert await store.write(C1M, batch) == WriteResult(10, 0, 0)
    assert await store.count(C1M) == 10


async def test_replayed_batch_changes_nothing(store: MarketStore) -> None:
    batch = [candle(T0 + i * MIN) for i in range(5)] + [candle(T0 + 5 * MIN, closed=False)]
    await store.write(C1M, batch)
    assert await store.write(C1M, batch) == WriteResult(0, 0, 6)
    assert (await store.query(C1M)).records == batch


async def test_open_candle_is_replaced_by_later_updates(store: MarketStore) -> None:
    await store.write(C1M, [candle(T0, close=7.600, closed=False)])
    assert await store.write(C1M, [candle(T0, close=7.700, closed=False)]) == WriteResult(0, 1, 0)
    assert await store.write(C1M, [candle(T0, close=7.650)]) == WriteResult(0, 1, 0)
    assert (await store.query(C1M)).records == [candle(T0, close=7.650)]


async def test_closed_candle_is_final(store: MarketStore) -> None:
    final = candle(T0, close=7.650)
    await store.write(C1M, [final])
    later = [candle(T0, close=7.999), candle(T0, close=7.1, closed=False)]
    assert await store.write(C1M, later) == WriteResult(0, 0, 2)
    assert await store.latest(C1M) == [final]


async def test_batch_with_many_versions_of_a_key_applies_them_in_order(
    store: MarketStore,
) -> None:
    versions = [
        candle(T0, close=7.60, closed=False),
        candle(T0, close=7.62, closed=False),
        candle(T0, close=7.61),
        candle(T0, close=7.70, closed=False),
        candle(T0, close=7.71),
    ]
    neighbour = candle(T0 + MIN, close=7.63, closed=False)
    result = await store.write(C1M, [*versions[:3], neighbour, *versions[3:]])
    assert result == WriteResult(inserted=2, updated=2, unchanged=2)
    assert (await store.query(C1M)).records == [candle(T0, close=7.61), neighbour]


async def test_batch_of_candles_far_apart_is_applied_key_by_key(store: MarketStore) -> None:
    day = 24 * 60 * MIN
    first = [candle(T0), candle(T0 + day, closed=False), candle(T0 + 30 * day, closed=False)]
    assert await store.write(C1M, first) == WriteResult(3, 0, 0)
    second = [candle(T0 + 30 * day), candle(T0, close=1.0), candle(T0 + day, closed=False)]
    assert await store.write(C1M, second) == WriteResult(0, 1, 2)
    assert (await store.query(C1M)).records == [first[0], first[1], second[0]]


async def test_non_candle_records_keep_their_first_version(store: MarketStore) -> None:
    first = trade(197_336_409, T0, price=7.611)
    await store.write(TRADES, [first])
    result = await store.write(TRADES, [trade(197_336_409, T0, price=9.0), first])
    assert result == WriteResult(0, 0, 2)
    assert (await store.query(TRADES)).records == [first]


async def test_duplicate_inside_a_new_batch_is_written_once(store: MarketStore) -> None:
    update = depth(600_859_600_917, T0)
    assert await store.write(DEPTH, [update, update]) == WriteResult(1, 0, 1)
    assert await store.count(DEPTH) == 1


async def test_foreign_records_reject_the_whole_batch(store: MarketStore) -> None:
    batch: list[Record] = [candle(T0), candle(T0 + MIN, interval="5m", length=5 * MIN)]
    with pytest.raises(ValidationError):
        await store.write(C1M, batch)
    with pytest.raises(ValidationError):
        await store.write(C1M, [candle(T0), trade(1, T0)])
    assert await store.count(C1M) == 0
    assert await store.datasets() == []


async def test_write_many_writes_each_group_with_its_own_result(store: MarketStore) -> None:
    candles = [candle(T0 + i * MIN) for i in range(3)]
    trades = [trade(i, T0 + i) for i in range(4)]
    await store.write(TRADES, trades[:1])
    results = await store.write_many({C1M: candles, TRADES: trades, DEPTH: []})
    assert results == {
        C1M: WriteResult(3, 0, 0),
        TRADES: WriteResult(3, 0, 1),
        DEPTH: WriteResult(0, 0, 0),
    }
    assert (await store.query(C1M)).records == candles
    assert (await store.query(TRADES)).records == trades


async def test_write_many_with_a_foreign_record_writes_no_group(store: MarketStore) -> None:
    with pytest.raises(ValidationError):
        await store.write_many({TRADES: [trade(1, T0)], C1M: [candle(T0), trade(2, T0)]})
    assert await store.datasets() == []


async def test_empty_batch_writes_nothing(store: MarketStore) -> None:
    assert await store.write(C1M, []) == WriteResult(0, 0, 0)
    assert await store.datasets() == []


async def test_agg_and_raw_trades_with_one_id_are_distinct(store: MarketStore) -> None:
    agg, raw = trade(5_000, T0, trade_type="agg"), trade(5_000, T0, trade_type="raw")
    assert await store.write(TRADES, [raw, agg]) == WriteResult(2, 0, 0)
    assert (await store.query(TRADES)).records == [agg, raw]
    assert (await store.query(TRADES, order="desc")).records == [raw, agg]
    assert (await store.query(TRADES, trade_type="raw")).records == [raw]
    assert await store.keys(TRADES, trade_type="agg") == [5_000]


async def test_intervals_and_symbols_are_separate_datasets(store: MarketStore) -> None:
    month_start = 1_625_097_600_000  # 2021-07-01 00:00 UTC
    one_m = candle(month_start)
    one_month = candle(month_start, interval="1M", length=31 * 24 * 60 * MIN)
    other = candle(month_start, symbol="AKROUSDT", close=0.01737)
    for record in (one_m, one_month, other):
        assert await store.write(record.dataset, [record]) == WriteResult(1, 0, 0)
    assert (await store.query(C1M)).records == [one_m]
    assert (await store.query(one_month.dataset)).records == [one_month]
    assert (await store.query(other.dataset)).records == [other]


async def test_query_range_is_half_open(store: MarketStore) -> None:
    batch = [candle(T0 + i * MIN) for i in range(10)]
    await store.write(C1M, batch)
    assert (await store.query(C1M, T0 + 2 * MIN, T0 + 5 * MIN)).records == batch[2:5]
    assert (await store.query(C1M, T0 + 2 * MIN + 1, T0 + 5 * MIN + 1)).records == batch[3:6]
    assert (await store.query(C1M, start=T0 + 8 * MIN)).records == batch[8:]
    assert (await store.query(C1M, end=T0 + 2 * MIN)).records == batch[:2]
    assert (await store.query(C1M, T0 + 3 * MIN, T0 + 3 * MIN)).records == []


async def test_query_orders_descending(store: MarketStore) -> None:
    batch = [candle(T0 + i * MIN) for i in range(6)]
    await store.write(C1M, batch[3:] + batch[:3])
    page = await store.query(C1M, T0 + MIN, None, order="desc")
    assert page.records == batch[:0:-1]


async def test_query_orders_by_time_then_key(store: MarketStore) -> None:
    same_time = [depth(600_859_600_917, T0), depth(600_859_600_103, T0), depth(600_859_600_555, T0)]
    later = depth(600_859_600_001, T0 + 1)
    await store.write(DEPTH, [later, *same_time])
    expected = sorted(same_time, key=lambda d: d.final_update_id) + [later]
    assert (await store.query(DEPTH)).records == expected
    assert (await store.query(DEPTH, order="desc")).records == expected[::-1]
    assert await read_all(store, DEPTH, limit=1) == expected
    assert await store.keys(DEPTH) == [d.final_update_id for d in expected]


async def test_limit_ends_a_page_and_cursor_is_none_at_the_end(store: MarketStore) -> None:
    batch = [candle(T0 + i * MIN) for i in range(10)]
    await store.write(C1M, batch)
    first = await store.query(C1M, limit=4)
    assert first.records == batch[:4]
    assert first.next_cursor is not None
    rest = await store.query(C1M, limit=6, cursor=first.next_cursor)
    assert rest.records == batch[4:]
    assert rest.next_cursor is None
    assert (await store.query(C1M, limit=10)).next_cursor is None


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_paging_returns_every_record_once_in_order(
    store: MarketStore, xrp_5m: list[Candle], order: str
) -> None:
    dataset = xrp_5m[0].dataset
    assert await store.write(dataset, xrp_5m) == WriteResult(len(xrp_5m), 0, 0)
    start, end = xrp_5m[100].open_time, xrp_5m[1_900].open_time
    got = await read_all(store, dataset, start=start, end=end, limit=250, order=order)
    expected = xrp_5m[100:1_900]
    assert got == (expected if order == "asc" else expected[::-1])


async def test_paging_picks_up_records_landing_after_the_cursor(
    store: MarketStore, xrp_5m: list[Candle]
) -> None:
    dataset, candles = xrp_5m[0].dataset, xrp_5m[:200]
    await store.write(dataset, candles[0::2])
    first = await store.query(dataset, limit=20)
    assert first.next_cursor is not None
    await store.write(dataset, candles[1::2])  # a backfill lands while a client pages
    rest = await read_all(store, dataset, limit=30, cursor=first.next_cursor)
    last_seen = first.records[-1].time
    assert first.records + rest == candles[0:40:2] + [c for c in candles if c.time > last_seen]


@pytest.mark.parametrize("limit", [0, -1, 10_001])
async def test_limit_out_of_bounds_is_rejected(store: MarketStore, limit: int) -> None:
    with pytest.raises(ValidationError):
        await store.query(C1M, limit=limit)


async def test_largest_limit_is_accepted(store: MarketStore) -> None:
    await store.write(C1M, [candle(T0)])
    assert (await store.query(C1M, limit=10_000)).records == [candle(T0)]


@pytest.mark.parametrize(
    "cursor", ["garbage", "%%%", base64.urlsafe_b64encode(b"foo:bar").decode(), "MTIzOg=="]
)
async def test_invalid_cursor_is_rejected(store: MarketStore, cursor: str) -> None:
    await store.write(C1M, [candle(T0)])
    with pytest.raises(ValidationError) as caught:
        await store.query(C1M, cursor=cursor)
    assert caught.value.reason == "bad_cursor"


def _forged(cursor: str, number: int) -> str:
    """``cursor`` with every number in it replaced, whichever encoding the backend chose."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    if raw.startswith(b"["):
        items = [number if isinstance(v, int) else v for v in json.loads(raw)]
        raw = json.dumps(items).encode()
    else:
        raw = b":".join(str(number).encode() if p.isdigit() else p for p in raw.split(b":"))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("dataset", [C1M, TRADES, DEPTH], ids=str)
@pytest.mark.parametrize(
    "number",
    [253_402_300_800_000, 2**63, -(2**63) - 1, -1, 10**300],
    ids=["after 9999", "2**63", "below -2**63", "-1", "301 digits"],
)
async def test_a_cursor_edited_past_the_storable_range_is_rejected(
    store: MarketStore, dataset: DatasetId, number: int
) -> None:
    """Times outside 1970 .. 9999 and ids outside int64 cannot be stored, so never issued."""
    records: list[Record] = {
        C1M: [candle(T0), candle(T0 + MIN)],
        TRADES: [trade(700, T0), trade(701, T0 + 10)],
        DEPTH: [depth(5_000, T0), depth(6_000, T0 + 10)],
    }[dataset]
    await store.write(dataset, records)
    cursor = (await store.query(dataset, limit=1)).next_cursor
    assert cursor is not None

    with pytest.raises(ValidationError) as caught:
        await store.query(dataset, cursor=_forged(cursor, number))
    assert caught.value.reason == "bad_cursor"


async def test_trade_type_filters_trades(store: MarketStore) -> None:
    aggs = [trade(700 + i, T0 + i * 10) for i in range(3)]
    raws = [trade(9_000 + i, T0 + i * 10 + 5, trade_type="raw") for i in range(3)]
    await store.write(TRADES, raws + aggs)
    assert (await store.query(TRADES, trade_type="agg")).records == aggs
    assert (await store.query(TRADES, trade_type="raw", order="desc")).records == raws[::-1]
    assert await store.keys(TRADES, trade_type="raw") == [9_000, 9_001, 9_002]
    assert await store.keys(TRADES) == [700, 9_000, 701, 9_001, 702, 9_002]


async def test_unknown_trade_type_is_rejected(store: MarketStore) -> None:
    with pytest.raises(ValidationError):
        await store.query(TRADES, trade_type="both")
    with pytest.raises(ValidationError):
        await store.query(C1M, trade_type="agg")


async def test_latest_is_newest_first(store: MarketStore) -> None:
    batch = [candle(T0 + i * MIN) for i in range(10)]
    assert await store.latest(C1M) == []
    await store.write(C1M, batch)
    assert await store.latest(C1M) == [batch[-1]]
    assert await store.latest(C1M, 3) == batch[:-4:-1]
    assert await store.latest(C1M, 50) == batch[::-1]
    with pytest.raises(ValidationError):
        await store.latest(C1M, 0)


async def test_count_honours_the_range(store: MarketStore) -> None:
    await store.write(C1M, [candle(T0 + i * MIN) for i in range(10)])
    await store.write(TRADES, [trade(1, T0)])
    assert await store.count(C1M) == 10
    assert await store.count(C1M, T0 + 2 * MIN, T0 + 5 * MIN) == 3
    assert await store.count(C1M, start=T0 + 9 * MIN) == 1
    assert await store.count(C1M, end=T0) == 0
    assert await store.count(DatasetId.of(DatasetKind.CANDLES, SUSHI, "5m")) == 0


async def test_keys_are_in_time_order(store: MarketStore) -> None:
    await store.write(C1M, [candle(T0 + i * MIN) for i in (4, 0, 2, 1, 3)])
    assert await store.keys(C1M) == [T0 + i * MIN for i in range(5)]
    assert await store.keys(C1M, T0 + MIN, T0 + 3 * MIN) == [T0 + MIN, T0 + 2 * MIN]
    assert await store.keys(C1M, start=T0 + 5 * MIN) == []


async def test_delete_range_removes_only_that_range(store: MarketStore) -> None:
    batch = [candle(T0 + i * MIN) for i in range(10)]
    other = candle(T0, symbol="AKROUSDT", close=0.01737)
    await store.write(C1M, batch)
    await store.write(other.dataset, [other])
    assert await store.delete_range(C1M, T0 + 2 * MIN, T0 + 5 * MIN) == 3
    assert (await store.query(C1M)).records == batch[:2] + batch[5:]
    assert await store.delete_range(C1M, T0 + 2 * MIN, T0 + 5 * MIN) == 0
    assert await store.delete_range(C1M) == 7
    assert await store.count(C1M) == 0
    assert (await store.query(other.dataset)).records == [other]


async def test_deleted_range_can_be_written_again(store: MarketStore) -> None:
    await store.write(C1M, [candle(T0, close=7.61)])
    await store.delete_range(C1M, T0, T0 + MIN)
    assert await store.write(C1M, [candle(T0, close=7.62)]) == WriteResult(1, 0, 0)
    assert await store.latest(C1M) == [candle(T0, close=7.62)]


async def test_datasets_lists_every_dataset_holding_records(store: MarketStore) -> None:
    akro_depth = DepthUpdate(
        symbol="AKROUSDT",
        event_time=T0 + 77,
        transaction_time=T0 - 26,
        first_update_id=600_859_599_831,
        final_update_id=600_859_599_831,
        prev_final_update_id=600_859_598_737,
        bids=(),
        asks=((0.01737, 437_848.0),),
    )
    assert await store.datasets() == []
    await store.write(C1M, [candle(T0 + i * MIN) for i in range(3)])
    await store.write(TRADES, [trade(11, T0 + 5), trade(12, T0 + 9, trade_type="raw")])
    await store.write(akro_depth.dataset, [akro_depth])
    expected = [
        DatasetInfo(C1M, 3, T0, T0 + 2 * MIN),
        DatasetInfo(akro_depth.dataset, 1, T0 + 77, T0 + 77),
        DatasetInfo(TRADES, 2, T0 + 5, T0 + 9),
    ]
    assert sorted(await store.datasets(), key=lambda i: str(i.dataset)) == expected
    await store.delete_range(akro_depth.dataset)
    assert sorted(await store.datasets(), key=lambda i: str(i.dataset)) == [
        expected[0],
        expected[2],
    ]


async def test_ping_answers_on_a_live_store(store: MarketStore) -> None:
    await store.ping()  # raises StoreUnavailable when the store does not answer
    await store.write(C1M, [candle(T0)])
    await store.ping()
    assert await store.count(C1M) == 1


async def test_records_survive_closing_and_reopening(market_url: str) -> None:
    batch = [candle(T0 + i * MIN) for i in range(3)] + [candle(T0 + 3 * MIN, closed=False)]
    first = await open_market_store(market_url)
    try:
        await first.write(C1M, batch)
    finally:
        await first.close()
    second = await open_market_store(market_url)
    try:
        assert (await second.query(C1M)).records == batch
        assert await second.write(C1M, batch) == WriteResult(0, 0, 4)
    finally:
        await second.close()


async def test_concurrent_overlapping_writes_keep_one_copy(store: MarketStore) -> None:
    batch = [candle(T0 + i * MIN) for i in range(300)]
    slices = [batch[0:200], batch[100:300], batch[50:250], batch[::-1]]
    results = await asyncio.gather(*(store.write(C1M, s) for s in slices))
    assert sum(r.inserted + r.updated + r.unchanged for r in results) == 900
    assert await read_all(store, C1M, limit=128) == batch


def _unreachable_url(backend: str, tmp_path: Path) -> str:
    port = free_port()
    if backend == "sqlite":
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a file where the database folder should be")
        return f"sqlite+aiosqlite:///{blocker / 'store.db'}"
    if backend == "mariadb":
        return f"mysql+asyncmy://root@127.0.0.1:{port}/petrosa"
    return f"mongodb://127.0.0.1:{port}/petrosa?serverSelectionTimeoutMS=300&connectTimeoutMS=300"


async def test_pool_status_names_the_backend_without_touching_it(market_url: str) -> None:
    """The API's /health/connections reads this; a store not yet used still answers."""
    backend = {"sqlite+aiosqlite": "sqlite", "mysql+asyncmy": "mysql", "mongodb": "mongodb"}
    opened = await open_market_store(market_url)
    try:
        status = opened.pool_status()
    finally:
        await opened.close()
    assert status["backend"] == backend[market_url.partition("://")[0]]


@pytest.mark.parametrize("backend", ["sqlite", "mariadb", "mongo"])
async def test_unreachable_store_raises_store_unavailable(backend: str, tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        opened = await open_market_store(_unreachable_url(backend, tmp_path))
        try:
            await opened.ping()
        finally:
            await opened.close()


@pytest.mark.parametrize("url", ["redis://localhost/0", "postgresql+asyncpg://x@y/z", "data.db"])
async def test_unknown_url_scheme_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        await open_market_store(url)
