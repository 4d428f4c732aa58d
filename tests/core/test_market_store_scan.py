"""The columnar scan contract: on every backend, ``scan`` is ``query`` as Arrow.

Same rows, same values, same types, same order, same cursors, for every dataset kind,
on SQLite (ADBC in reader processes), MariaDB (connectorx) and MongoDB (pymongoarrow).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import msgspec
import pyarrow as pa
import pytest

from petrosa_core.errors import ValidationError
from petrosa_core.market import MarketStore, arrow_schema, open_market_store
from petrosa_core.market.columns import records_to_table
from petrosa_core.models import (
    KIND_SPECS,
    Candle,
    DatasetId,
    DatasetKind,
    FundingRate,
    Record,
    Trade,
)
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


def _rows(table: pa.Table) -> list[dict[str, object]]:
    """Rows with times as epoch ms, the way records carry them."""
    kind_times = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
    rows = table.to_pylist()
    for row in rows:
        for name in kind_times:
            if row[name] is not None:
                row[name] = int(row[name].timestamp() * 1000)
        for name in ("bids", "asks"):
            if name in row:
                row[name] = tuple(tuple(level) for level in row[name])
    return rows


def _as_rows(records: list[Record]) -> list[dict[str, object]]:
    return [msgspec.structs.asdict(r) for r in records]


@pytest.mark.parametrize("name", list(ROUND_TRIP))
async def test_every_kind_scans_field_for_field_with_its_schema(
    store: MarketStore, name: str
) -> None:
    record = ROUND_TRIP[name]
    await store.write(record.dataset, [record])
    page = await store.scan(record.dataset)
    assert page.table.schema == arrow_schema(record.kind)
    assert _rows(page.table) == _as_rows([record])
    assert page.next_cursor is None


def test_schema_types_are_the_pinned_ones() -> None:
    candles = arrow_schema(DatasetKind.CANDLES)
    assert candles.field("open_time").type == pa.timestamp("ms", tz="UTC")
    assert candles.field("close").type == pa.float64()
    assert candles.field("trade_count").type == pa.int64()
    assert candles.field("is_closed").type == pa.bool_()
    levels = arrow_schema(DatasetKind.DEPTH).field("bids").type
    assert levels == pa.list_(pa.list_(pa.float64()))
    assert arrow_schema(DatasetKind.TRADES).field("event_time").nullable
    for kind in DatasetKind:
        fields = KIND_SPECS[kind].record_type.__struct_fields__
        assert arrow_schema(kind).names == list(fields)


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_pages_equal_query_pages_and_cursors(
    store: MarketStore, xrp_5m: list[Candle], order: str
) -> None:
    dataset = xrp_5m[0].dataset
    await store.write(dataset, xrp_5m)
    start, end = xrp_5m[100].open_time, xrp_5m[1_900].open_time
    q_cursor = s_cursor = None
    pages = 0
    while True:
        expected = await store.query(dataset, start, end, order=order, limit=333, cursor=q_cursor)
        got = await store.scan(dataset, start, end, order=order, limit=333, cursor=s_cursor)
        assert _rows(got.table) == _as_rows(expected.records)
        assert got.next_cursor == expected.next_cursor
        pages += 1
        if expected.next_cursor is None:
            break
        q_cursor = s_cursor = expected.next_cursor
    assert pages == 6


async def test_whole_range_in_one_table(store: MarketStore, xrp_5m: list[Candle]) -> None:
    dataset = xrp_5m[0].dataset
    await store.write(dataset, xrp_5m)
    page = await store.scan(dataset, limit=None)
    assert page.next_cursor is None
    assert page.table.num_rows == len(xrp_5m)
    assert _rows(page.table) == _as_rows(await read_all(store, dataset))


async def test_half_open_ranges_with_sub_second_edges(store: MarketStore) -> None:
    trades = [trade(100 + i, T0 + i * 250) for i in range(40)]
    await store.write(TRADES, trades)
    for start, end in [(T0 + 1, T0 + 2_999), (T0 + 250, T0 + 250), (T0 + 999, T0 + 1_001)]:
        got = await store.scan(TRADES, start, end, limit=None)
        expected = [t for t in trades if start <= t.trade_time < end]
        assert _rows(got.table) == _as_rows(expected)


async def test_empty_range_keeps_the_schema(store: MarketStore) -> None:
    await store.write(C1M, [candle(T0 + i * MIN) for i in range(3)])
    for page in (
        await store.scan(C1M, T0 + 10 * MIN, T0 + 20 * MIN),
        await store.scan(DatasetId.of(DatasetKind.CANDLES, "NONEUSDT", "1m")),
        await store.scan(C1M, T0 + MIN, T0 + MIN, limit=None),
    ):
        assert page.table.num_rows == 0
        assert page.table.schema == arrow_schema(DatasetKind.CANDLES)
        assert page.next_cursor is None


async def test_batches_cross_page_boundaries_without_loss(store: MarketStore) -> None:
    batch = [candle(T0 + i * MIN) for i in range(50)]
    await store.write(C1M, batch)
    tables = [t async for t in store.scan_batches(C1M, T0 + MIN, T0 + 45 * MIN, batch_rows=7)]
    assert [t.num_rows for t in tables] == [7] * 6 + [2]
    assert _rows(pa.concat_tables(tables)) == _as_rows(batch[1:45])
    empty = [t async for t in store.scan_batches(C1M, T0 + 60 * MIN, batch_rows=7)]
    assert len(empty) == 1 and empty[0].num_rows == 0


async def test_columns_are_chosen_and_unknown_ones_refused(store: MarketStore) -> None:
    await store.write(C1M, [candle(T0 + i * MIN) for i in range(5)])
    page = await store.scan(C1M, columns=["close", "open_time"], limit=2)
    assert page.table.column_names == ["close", "open_time"]
    assert page.next_cursor == (await store.query(C1M, limit=2)).next_cursor
    for bad in (["nope"], [], ["close", "close"], ["x" * 5000]):
        with pytest.raises(ValidationError) as caught:
            await store.scan(C1M, columns=bad)
        assert caught.value.reason == "bad_columns"
        assert len(str(caught.value)) < 200


async def test_trades_filter_by_type_and_order_agg_before_raw(store: MarketStore) -> None:
    mixed = [trade(7, T0, trade_type="raw"), trade(7, T0), trade(8, T0 + 1, trade_type="raw")]
    await store.write(TRADES, mixed)
    assert _rows((await store.scan(TRADES)).table) == _as_rows(await read_all(store, TRADES))
    raw = await store.scan(TRADES, trade_type="raw")
    assert raw.table.column("trade_type").to_pylist() == ["raw", "raw"]
    with pytest.raises(ValidationError):
        await store.scan(TRADES, trade_type="both")
    with pytest.raises(ValidationError):
        await store.scan(C1M, trade_type="agg")


async def test_nulls_after_a_long_run_keep_their_column_types(store: MarketStore) -> None:
    """A driver that guesses types from the first rows must not trip on leading nulls."""
    dataset = DatasetId.of(DatasetKind.FUNDING_RATES, SUSHI)
    rates = [
        FundingRate(SUSHI, T0 + i * 8 * 3_600_000, 1e-4, None if i < 3_000 else 7.5 + i)
        for i in range(3_200)
    ]
    await store.write(dataset, rates)
    table = (await store.scan(dataset, limit=None)).table
    assert table.schema == arrow_schema(DatasetKind.FUNDING_RATES)
    assert table.column("mark_price").null_count == 3_000
    assert table.column("mark_price")[3_100].as_py() == 7.5 + 3_100
    raw = [
        Trade(SUSHI, "raw", i, 1.0, 2.0, T0 + i, False) if i < 2_500 else trade(i, T0 + i)
        for i in range(2_600)
    ]
    await store.write(TRADES, raw)
    trades = (await store.scan(TRADES, limit=None)).table
    assert trades.column("event_time").null_count == 2_500
    assert _rows(trades.slice(2_590, 10)) == _as_rows(raw[2_590:])


async def test_depth_levels_are_list_columns(store: MarketStore) -> None:
    updates = [depth(600_859_600_000 + i, T0 + i) for i in range(5)]
    await store.write(DEPTH, updates)
    table = (await store.scan(DEPTH)).table
    assert table.column("bids").to_pylist()[0] == [[7.504, 813.0], [7.609, 0.0]]
    assert _rows(table) == _as_rows(updates)


async def test_bad_cursor_and_limit_are_refused(store: MarketStore) -> None:
    with pytest.raises(ValidationError):
        await store.scan(C1M, cursor="not-a-cursor")
    with pytest.raises(ValidationError):
        await store.scan(C1M, limit=0)
    with pytest.raises(ValidationError):
        await store.scan(C1M, order="sideways")  # type: ignore[arg-type]


async def test_a_large_range_leaves_no_spill_files(sqlite_url: str) -> None:
    """Tables over the pipe size travel through shared-memory files, removed once mapped."""
    store = await open_market_store(sqlite_url)
    try:
        batch = [candle(T0 + i * MIN) for i in range(30_000)]
        await store.write(C1M, batch)
        before = _spill_files()
        table = (await store.scan(C1M, limit=None)).table
        assert table.num_rows == 30_000
        assert table.column("open_time")[29_999].value == batch[-1].open_time
        assert _spill_files() == before
    finally:
        await store.close()


def _spill_files() -> set[str]:
    found: set[str] = set()
    for folder in ("/dev/shm", "/tmp"):
        if os.path.isdir(folder):
            found.update(n for n in os.listdir(folder) if n.startswith("petrosa-scan-"))
    return found


async def test_a_killed_reader_process_is_replaced(sqlite_url: str) -> None:
    store = await open_market_store(sqlite_url)
    try:
        await store.write(C1M, [candle(T0 + i * MIN) for i in range(3)])
        await store.warm()
        readers = store._columnar.readers  # type: ignore[attr-defined]
        killed = readers.pids
        assert len(killed) == 2
        for pid in killed:
            os.kill(pid, 9)
        assert (await store.scan(C1M)).table.num_rows == 3
        await store.warm()  # both readers busy at once: the other dead one is met and replaced
        assert not set(readers.pids) & set(killed)
        assert len(readers.pids) == 2
    finally:
        await store.close()
    assert not any(_alive(pid) for pid in killed)


async def test_reads_beside_a_writer_see_only_committed_rows(tmp_path: Path) -> None:
    """The reader processes open the file read-only: scans never take a write lock."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    writer, reader = await open_market_store(url), await open_market_store(url)
    try:
        for i in range(20):
            await writer.write(C1M, [candle(T0 + (i * 10 + j) * MIN) for j in range(10)])
            assert (await reader.scan(C1M, limit=None)).table.num_rows == (i + 1) * 10
    finally:
        await writer.close()
        await reader.close()


def test_records_to_table_matches_the_schema() -> None:
    table = records_to_table(DatasetKind.CANDLES, [candle(T0), candle(T0 + MIN)])
    assert table.schema == arrow_schema(DatasetKind.CANDLES)
    assert table.column("open_time")[1].value == T0 + MIN


async def test_driver_options_in_the_url_keep_the_row_path(mysql_url: str) -> None:
    """connectorx would drop asyncmy's options (TLS): such a store scans through query."""
    store = await open_market_store(f"{mysql_url}?charset=utf8mb4")
    try:
        assert store._columnar is None  # type: ignore[attr-defined]
        batch = [candle(T0 + i * MIN) for i in range(12)]
        await store.write(C1M, batch)
        page = await store.scan(C1M, limit=5)
        assert _rows(page.table) == _as_rows(batch[:5])
        assert page.table.schema == arrow_schema(DatasetKind.CANDLES)
        assert page.next_cursor == (await store.query(C1M, limit=5)).next_cursor
        assert (await store.scan(C1M, limit=None)).table.num_rows == 12
    finally:
        await store.close()


_SCANNING_PROCESS = """
import asyncio, sys
from petrosa_core.market import open_market_store
from petrosa_core.models import DatasetId, DatasetKind

async def main():
    store = await open_market_store(sys.argv[1])
    await store.scan(DatasetId.of(DatasetKind.CANDLES, "SUSHIUSDT", "1m"))
    await store.warm()
    print(*store._columnar.readers.pids, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_reader_processes_end_with_a_killed_service(sqlite_url: str) -> None:
    """SIGKILL leaves no reader behind, and nothing but the service writes its stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _SCANNING_PROCESS,
        sqlite_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 120)
    readers = [int(pid) for pid in line.split()]
    assert readers and all(_alive(pid) for pid in readers)
    proc.kill()
    await proc.wait()
    # Nothing but the service writes to its stderr (a JSON log), not even on a SIGKILL,
    # and nothing holds it open: its end arrives with the service's death.
    assert await asyncio.wait_for(proc.stderr.read(), 60) == b""
    # The readers see their stdin close and end; bounded wait, not a timing assertion.
    for _ in range(600):
        if not any(_alive(pid) for pid in readers):
            break
        await asyncio.sleep(0.1)
    assert not any(_alive(pid) for pid in readers)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
