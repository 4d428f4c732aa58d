"""Columnar reads of the MongoDB market store: raw BSON batches decoded by pymongoarrow.

The server is sent the same second-aligned filter and sort as ``query`` (exact on every
MongoDB-wire server, see ``_mongo_ranges``); the sub-second edges and the cursor's
resume point are then settled on whole columns, never document by document.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from petrosa_core.errors import StoreError
from petrosa_core.market._mongo_layout import Position
from petrosa_core.market._mongo_ranges import Window
from petrosa_core.market.columns import arrow_schema
from petrosa_core.models import KIND_SPECS, DatasetKind

if TYPE_CHECKING:
    import pyarrow as pa
    from pymongo.asynchronous.collection import AsyncCollection

# Documents per raw batch from the server: bounded memory, few round trips.
RAW_BATCH = 10_000


@functools.cache
def _mongo_schema(kind: DatasetKind) -> Any:
    from pymongoarrow.api import Schema

    return Schema({field.name: field.type for field in arrow_schema(kind)})


def _decode(kind: DatasetKind, raw: bytes) -> pa.Table:
    from pymongoarrow.context import PyMongoArrowContext

    context = PyMongoArrowContext(_mongo_schema(kind))
    try:
        context.process_bson_stream(raw)
    except Exception as exc:  # pymongoarrow raises plain errors for a mistyped field
        raise StoreError(f"stored {kind.value} documents do not fit the schema: {exc}") from exc
    return context.finish()


def _admitted(table: pa.Table, window: Window) -> pa.Table:
    """The rows inside ``window``: its time bounds and past its cursor, column-wise."""
    import pyarrow.compute as pc

    kind = window.dataset.kind
    order_fields = KIND_SPECS[kind].order_fields
    times = pc.cast(table.column(order_fields[0]), "int64")
    keep = None
    if window.start is not None:
        keep = _and(keep, pc.greater_equal(times, window.start))
    if window.end is not None:
        keep = _and(keep, pc.less(times, window.end))
    if window.after is not None:
        keep = _and(keep, _past(table, order_fields, window.after, window.order))
    return table if keep is None else table.filter(keep)


def _and(left: Any, right: Any) -> Any:
    import pyarrow.compute as pc

    return right if left is None else pc.and_(left, right)


def _past(table: pa.Table, fields: tuple[str, ...], after: Position, order: str) -> Any:
    """Rows whose (time, key...) position sorts strictly after ``after`` in ``order``."""
    import pyarrow.compute as pc

    beyond = pc.greater if order == "asc" else pc.less
    result = None
    # Built from the last field inwards: p_i > a_i  or  (p_i == a_i  and  result_{i+1}).
    for name, value in reversed(list(zip(fields, after, strict=True))):
        column = table.column(name)
        if name.endswith("_time"):
            column = pc.cast(column, "int64")
        strictly = beyond(column, value)
        result = (
            strictly
            if result is None
            else pc.or_(strictly, pc.and_(pc.equal(column, value), result))
        )
    return result


def _is_behind(table: pa.Table, window: Window) -> bool:
    """Whether the batch's last row lies past the window, so later batches cannot match."""
    if table.num_rows == 0:
        return False
    field = KIND_SPECS[window.dataset.kind].time_field
    last = table.column(field)[table.num_rows - 1].value
    return window.is_behind(int(last))


async def scan_window(
    collection: AsyncCollection[Any], window: Window, want: int | None
) -> pa.Table:
    """At most ``want`` rows of ``window`` in its order (every row when ``None``)."""
    import pyarrow as pa

    kind = window.dataset.kind
    batch = RAW_BATCH if want is None else min(RAW_BATCH, max(want, 1))
    found: list[pa.Table] = []
    rows = 0
    raw_cursor = collection.find_raw_batches(
        window.server_filter(), sort=window.sort(), batch_size=batch
    )
    try:
        async for raw in raw_cursor:
            decoded = _decode(kind, raw)
            admitted = _admitted(decoded, window)
            found.append(admitted)
            rows += admitted.num_rows
            if (want is not None and rows >= want) or _is_behind(decoded, window):
                break
    finally:
        await raw_cursor.close()
    if not found:
        return arrow_schema(kind).empty_table()
    table = pa.concat_tables(found)
    return table if want is None else table.slice(0, want)
