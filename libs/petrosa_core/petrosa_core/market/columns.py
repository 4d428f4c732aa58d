"""Market records as Arrow columns: one schema per dataset kind, shared by every backend.

``MarketStore.scan`` answers with tables of these schemas, whichever store runs: the
columns are the record's fields in its order; times (``*_time``) are UTC epoch
milliseconds as ``timestamp[ms, UTC]``; floats are float64, integers int64; depth levels
are ``list<list<float64>>`` of ``[price, quantity]`` pairs.

pyarrow is imported on first use only: it costs tens of MiB that a process which never
scans (the ingestor) should not pay.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec.inspect as mi

from petrosa_core.errors import StoreError, ValidationError
from petrosa_core.market._rules import check_limit, check_order, check_trade_type
from petrosa_core.models import KIND_SPECS, DatasetId, DatasetKind, Record

if TYPE_CHECKING:
    import pyarrow as pa

# Rows per table of ``scan_batches``: large enough to amortise each round trip, small
# enough that an export of any length holds only this much at a time.
BATCH_ROWS = 100_000


class ArrowPage(NamedTuple):
    """One page of a columnar scan; pass ``next_cursor`` back to continue after it."""

    table: pa.Table
    next_cursor: str | None


def _arrow_type(tp: mi.Type) -> tuple[pa.DataType, bool]:
    """The Arrow type of a record field's type, and whether the field may be null."""
    import pyarrow as pa

    if isinstance(tp, mi.UnionType):
        inner = [t for t in tp.types if not isinstance(t, mi.NoneType)]
        return _arrow_type(inner[0])[0], True
    if isinstance(tp, mi.VarTupleType | mi.TupleType):
        return pa.list_(pa.list_(pa.float64())), False
    simple = {
        mi.IntType: pa.int64(),
        mi.FloatType: pa.float64(),
        mi.BoolType: pa.bool_(),
    }
    return simple.get(type(tp), pa.string()), False


@functools.cache
def arrow_schema(kind: DatasetKind) -> pa.Schema:
    """The columns of ``kind``'s records, in the record's field order."""
    import pyarrow as pa

    info = mi.type_info(KIND_SPECS[kind].record_type)
    assert isinstance(info, mi.StructType)
    times = set(KIND_SPECS[kind].time_fields)
    fields = []
    for field in info.fields:
        arrow_type, nullable = _arrow_type(field.type)
        if field.name in times:
            arrow_type = pa.timestamp("ms", tz="UTC")
        fields.append(pa.field(field.name, arrow_type, nullable=nullable))
    return pa.schema(fields)


def select_schema(kind: DatasetKind, columns: Sequence[str] | None) -> pa.Schema:
    """The schema of the chosen columns, in the order asked; every name must exist."""
    schema = arrow_schema(kind)
    if columns is None:
        return schema
    if not columns:
        raise ValidationError("bad_columns", "columns, when given, names at least one column")
    unknown = [name for name in columns if schema.get_field_index(name) < 0]
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise ValidationError("bad_columns", f"{kind.value} has no column {shown}")
    if len(set(columns)) != len(columns):
        raise ValidationError("bad_columns", "a column is named twice")
    import pyarrow as pa

    return pa.schema([schema.field(name) for name in columns])


def records_to_table(
    kind: DatasetKind, records: Sequence[Record], columns: Sequence[str] | None = None
) -> pa.Table:
    """Records as a table of ``kind``'s schema (or the chosen columns of it)."""
    import pyarrow as pa

    schema = select_schema(kind, columns)
    arrays = [
        pa.array([getattr(r, name) for r in records], type=_storage_type(schema.field(name)))
        for name in schema.names
    ]
    return pa.Table.from_arrays(
        [
            _as_field(array, schema.field(name))
            for array, name in zip(arrays, schema.names, strict=True)
        ],
        schema=schema,
    )


def _storage_type(field: pa.Field) -> pa.DataType:
    """Times are built from their int64 milliseconds, then viewed as timestamps."""
    import pyarrow as pa

    return pa.int64() if pa.types.is_timestamp(field.type) else field.type


def _as_field(array: pa.Array, field: pa.Field) -> pa.Array:
    return array.cast(field.type) if array.type != field.type else array


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` cast column by column to ``schema``: the one place backends' types meet.

    Drivers answer times as naive timestamps of various units or as text, booleans as
    integers; each becomes the schema's type, so every backend's scan looks the same.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: list[Any] = []
    for field in schema:
        column = table.column(field.name)
        if pa.types.is_timestamp(field.type):
            column = _to_utc_ms(column)
        elif pa.types.is_boolean(field.type) and not pa.types.is_boolean(column.type):
            column = pc.not_equal(column, 0)
        elif column.type != field.type:
            column = column.cast(field.type)
        if not field.nullable and column.null_count:
            raise StoreError(f"stored rows lack a value for {field.name!r}")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _to_utc_ms(column: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        # SQLite keeps DATETIME as "YYYY-MM-DD HH:MM:SS.ffffff" text.
        column = pc.cast(column, pa.timestamp("us"))
    if pa.types.is_timestamp(column.type) and column.type.tz is None:
        column = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
    if pa.types.is_integer(column.type):
        return column.cast(pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    return column.cast(pa.timestamp("ms", tz="UTC"))


def table_records(
    kind: DatasetKind, table: pa.Table, rows: Sequence[int] | None = None
) -> list[Record]:
    """Rows of a table of ``kind``'s schema (all, or the ``rows`` given) as records.

    For the few rows a caller must hold as objects (a finding, a comparison); a whole
    table converted this way costs what the columnar read saved.
    """
    import msgspec
    import pyarrow as pa

    picked = table if rows is None else table.take(pa.array(rows, type=pa.int64()))
    for index, field in enumerate(picked.schema):
        if pa.types.is_timestamp(field.type):
            picked = picked.set_column(index, field.name, picked.column(index).cast(pa.int64()))
    record_type = KIND_SPECS[kind].record_type
    return [msgspec.convert(row, record_type) for row in picked.to_pylist()]


def check_scan(
    dataset: DatasetId,
    order: str,
    limit: int | None,
    trade_type: str | None,
    columns: Sequence[str] | None,
) -> None:
    """What every backend's ``scan`` refuses before it reads: ``query``'s rules, but no cap."""
    check_order(order)
    check_trade_type(dataset, trade_type)
    select_schema(dataset.kind, columns)
    if limit is not None and limit < 1:
        check_limit(limit)


def page_of(
    table: pa.Table,
    limit: int | None,
    columns: Sequence[str] | None,
    cursor_after: Callable[[pa.Table, int], str],
) -> ArrowPage:
    """A page from up to ``limit + 1`` rows: the extra row only says a cursor is due."""
    next_cursor = None
    if limit is not None and table.num_rows > limit:
        table = table.slice(0, limit)
        next_cursor = cursor_after(table, limit - 1)
    return ArrowPage(table if columns is None else table.select(list(columns)), next_cursor)


async def in_batches(
    scan: Callable[..., Awaitable[ArrowPage]], batch_rows: int
) -> AsyncIterator[pa.Table]:
    """``scan`` (a store's, with its range bound) page after page of ``batch_rows`` rows.

    An empty range yields one empty table, so a consumer always sees the schema.
    """
    cursor = None
    while True:
        page = await scan(limit=batch_rows, cursor=cursor)
        if page.table.num_rows or cursor is None:
            yield page.table
        cursor = page.next_cursor
        if cursor is None:
            return


def empty_table(kind: DatasetKind, columns: Sequence[str] | None = None) -> pa.Table:
    return select_schema(kind, columns).empty_table()


__all__ = [
    "BATCH_ROWS",
    "ArrowPage",
    "arrow_schema",
    "check_scan",
    "conform",
    "empty_table",
    "in_batches",
    "page_of",
    "records_to_table",
    "select_schema",
    "table_records",
]
