"""Pages written a column at a time equal what msgspec writes for the same records, byte for byte.

Records of every kind are generated with the values that trip float printers (1e-7, 1e16,
0.1 + 0.2, -0.0, whole floats, not-a-number, infinities, subnormals) and strings that need
JSON escapes; the Arrow table the store would answer is built from them and written by the
columnar writers, then compared with msgspec's encoding of ``RowShape.row``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import msgspec.inspect as mi
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from petrosa_api.columnar import csv_header, csv_rows, json_rows
from petrosa_api.formats import accepts_gzip, export_chunks, file_page, json_page, negotiate
from petrosa_api.rows import SHAPES
from petrosa_core.market.columns import records_to_table
from petrosa_core.models import RECORD_TYPES, DatasetKind, Record

ODD_FLOATS = [
    1e-7, 1e16, 1e15, 0.1 + 0.2, -0.0, 0.0, 100.0, 1.0, 1e-5, 2.5e-5, 1e21, 1e22, 1.5e300,
    5e-324, 2.2250738585072014e-308, 123456789012345678.0, 9289043.5, -1e16, 9999999999999998.0,
    math.nan, math.inf, -math.inf,
]  # fmt: skip
# The largest epoch ms every store's timestamp holds (9999-12-31T23:59:59.999Z).
MAX_TIME = 253_402_300_799_999
floats = st.one_of(st.sampled_from(ODD_FLOATS), st.floats(allow_nan=True, allow_infinity=True))
ints = st.one_of(st.sampled_from([0, -1, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1))
times = st.integers(0, MAX_TIME)
texts = st.one_of(
    st.sampled_from(["XRPUSDT", 'a"b', "back\\slash", "\x00\x1f\n", "é\u2028"]), st.text()
)
levels = st.lists(st.tuples(floats, floats).map(tuple), max_size=4).map(tuple)


def _strategy(name: str, tp: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(tp, mi.UnionType):
        inner = next(t for t in tp.types if not isinstance(t, mi.NoneType))
        return st.none() | _strategy(name, inner)
    if isinstance(tp, mi.LiteralType):
        return st.sampled_from(tp.values)
    if isinstance(tp, mi.VarTupleType | mi.TupleType):
        return levels
    if isinstance(tp, mi.IntType):
        return times if name.endswith("_time") else ints
    if isinstance(tp, mi.FloatType):
        return floats
    if isinstance(tp, mi.BoolType):
        return st.booleans()
    return texts


def records_of(kind: DatasetKind) -> st.SearchStrategy[list[Record]]:
    record_type = RECORD_TYPES[kind]
    info = mi.type_info(record_type)
    assert isinstance(info, mi.StructType)
    fields = {f.name: _strategy(f.name, f.type) for f in info.fields}
    return st.lists(st.fixed_dictionaries(fields).map(lambda d: record_type(**d)), max_size=6)


kinds_and_records = st.sampled_from(list(DatasetKind)).flatmap(
    lambda kind: st.tuples(st.just(kind), records_of(kind))
)


@settings(max_examples=300, deadline=None)
@given(kinds_and_records)
def test_json_rows_equal_msgspec_of_the_same_rows(case: tuple[DatasetKind, list[Record]]) -> None:
    kind, records = case
    shape = SHAPES[kind]

    written = json_rows(shape, records_to_table(kind, records))

    assert written == msgspec.json.encode([shape.row(r) for r in records])


def _csv_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | float | int):
        return msgspec.json.encode(value).decode()
    return str(value)


@settings(max_examples=200, deadline=None)
@given(kinds_and_records)
def test_csv_rows_read_back_by_the_csv_module_hold_the_json_text_of_each_value(
    case: tuple[DatasetKind, list[Record]],
) -> None:
    kind, records = case
    shape = SHAPES[kind]
    text = (csv_header(shape) + csv_rows(shape, records_to_table(kind, records))).decode()

    reader = csv.reader(io.StringIO(text, newline=""))
    header, *rows = list(reader)

    assert header == list(shape.columns)
    expected = [
        [_csv_text(json.loads(msgspec.json.encode(shape.row(r)))[c]) for c in shape.columns]
        for r in records
    ]
    assert rows == expected


def test_a_whole_page_is_the_msgspec_encoding_of_its_body() -> None:
    kind = DatasetKind.FUNDING_RATES
    record_type = RECORD_TYPES[kind]
    records = [record_type("XRPUSDT", 1_637_193_600_017, 0.0001, None)]  # type: ignore[call-arg]
    pagination = {"limit": 1, "count": 1, "next_cursor": "abc", "has_more": True}

    page = json_page(kind, records_to_table(kind, records), pagination)

    body = {
        "data": [SHAPES[kind].row(r) for r in records],
        "pagination": pagination,
        "fields": SHAPES[kind].descriptions,
    }
    assert page == msgspec.json.encode(body)


async def _tables(*tables: pa.Table) -> AsyncIterator[pa.Table]:
    for table in tables:
        yield table


def _candles(count: int, first: int = 0) -> pa.Table:
    record_type = RECORD_TYPES[DatasetKind.CANDLES]
    records = [
        record_type("XRPUSDT", "1m", (first + i) * 60_000, (first + i) * 60_000 + 59_999,
                    1.0 + i, 2.0, 0.5, 1.5, 10.0, 15.0, i, 5.0, 7.5, True)  # type: ignore[call-arg]
        for i in range(count)
    ]  # fmt: skip
    return records_to_table(DatasetKind.CANDLES, records)


async def _export(fmt: Any, *tables: pa.Table) -> list[bytes]:
    return [chunk async for chunk in export_chunks(fmt, DatasetKind.CANDLES, _tables(*tables))]


async def test_an_exported_parquet_is_one_file_with_a_row_group_per_chunk() -> None:
    first, second = _candles(3), _candles(2, first=3)

    chunks = await _export("parquet", first, second)

    assert chunks[0] == b"PAR1"  # the file opens before the store's first batch arrives
    parquet = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
    assert parquet.metadata.num_row_groups == 2
    assert parquet.read().equals(pa.concat_tables([first, second]))


async def test_an_exported_arrow_stream_and_csv_hold_every_batch_in_order() -> None:
    first, second = _candles(3), _candles(2, first=3)
    whole = pa.concat_tables([first, second])

    arrow = b"".join(await _export("arrow", first, second))
    text = b"".join(await _export("csv", first, second))

    assert pa.ipc.open_stream(arrow).read_all().equals(whole)
    frame = pl.read_csv(io.BytesIO(text))
    assert frame["open_time"].to_list() == [i * 60_000 for i in range(5)]
    assert frame["open"].to_list() == [1.0, 2.0, 3.0, 1.0, 2.0]


async def test_an_empty_export_is_still_a_readable_file_with_its_columns() -> None:
    empty = _candles(0)

    parquet = pq.read_table(io.BytesIO(b"".join(await _export("parquet", empty))))
    arrow = pa.ipc.open_stream(b"".join(await _export("arrow", empty))).read_all()
    text = b"".join(await _export("csv", empty)).decode()

    assert parquet.schema == arrow.schema == empty.schema
    assert parquet.num_rows == arrow.num_rows == 0
    assert text == ",".join(SHAPES[DatasetKind.CANDLES].columns) + "\n"


def test_a_file_page_of_each_format_reads_back_as_the_table() -> None:
    table = _candles(4)

    assert pq.read_table(io.BytesIO(file_page("parquet", DatasetKind.CANDLES, table))).equals(table)
    arrow = file_page("arrow", DatasetKind.CANDLES, table)
    assert pa.ipc.open_stream(arrow).read_all().equals(table)


@pytest.mark.parametrize(
    ("accept_encoding", "gzip"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("GZIP", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, deflate", False),
        ("gzip;q=bogus", False),
        ("deflate, br", False),
        ("x-gzip-not", False),
    ],
)
def test_gzip_is_chosen_only_when_accept_encoding_allows_it(
    accept_encoding: str | None, gzip: bool
) -> None:
    assert accepts_gzip(accept_encoding) is gzip


def test_the_arrow_stream_is_negotiated_by_name_or_media_type() -> None:
    assert negotiate("arrow", None) == "arrow"
    assert negotiate(None, "application/vnd.apache.arrow.stream;q=0.9, */*") == "arrow"
    assert negotiate(None, "application/json, text/csv") == "csv"
