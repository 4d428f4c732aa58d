"""Filters, orderings and keyset cursors of the SQL market store's range queries."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import sqlalchemy as sa

from petrosa_core.errors import ValidationError
from petrosa_core.market._rules import CURSOR_IDS, CURSOR_TIMES, TRADE_TYPES, check_trade_type
from petrosa_core.market._sql_tables import TABLES, order_columns
from petrosa_core.models import KIND_SPECS, DatasetId, DatasetKind, Record
from petrosa_core.times import to_naive_utc


def where(
    dataset: DatasetId,
    start: int | None = None,
    end: int | None = None,
    trade_type: str | None = None,
) -> list[sa.ColumnElement[bool]]:
    """The dataset's rows in ``[start, end)``, of one trade type if given."""
    table = TABLES[dataset.kind]
    clauses = [table.c.symbol == dataset.symbol]
    if dataset.interval is not None:
        clauses.append(table.c.interval == dataset.interval)
    time_column = table.c[KIND_SPECS[dataset.kind].time_field]
    if start is not None:
        clauses.append(time_column >= to_naive_utc(start))
    if end is not None:
        clauses.append(time_column < to_naive_utc(end))
    if trade_type is not None:
        check_trade_type(dataset, trade_type)
        clauses.append(table.c.trade_type == trade_type)
    return clauses


def ordering(kind: DatasetKind, order: str) -> list[sa.UnaryExpression[Any]]:
    return [c.asc() if order == "asc" else c.desc() for c in order_columns(kind)]


def encode_cursor(kind: DatasetKind, record: Record) -> str:
    """An opaque token naming the record's place in the (time, key) order."""
    values = [str(getattr(record, column.name)) for column in order_columns(kind)]
    return base64.urlsafe_b64encode(":".join(values).encode()).decode().rstrip("=")


def after_cursor(kind: DatasetKind, cursor: str, order: str) -> sa.ColumnElement[bool]:
    """Rows strictly past the cursor in ``order``; raise ``bad_cursor`` for a foreign token."""
    values = _decode_cursor(kind, cursor)
    columns = order_columns(kind)
    strictly = [
        sa.and_(
            *(c == v for c, v in zip(columns[:i], values[:i], strict=True)),
            col > val if order == "asc" else col < val,
        )
        for i, (col, val) in enumerate(zip(columns, values, strict=True))
    ]
    # The redundant leading bound lets the database range-scan its (symbol, time) index.
    bound = columns[0] >= values[0] if order == "asc" else columns[0] <= values[0]
    return sa.and_(bound, sa.or_(*strictly))


def _decode_cursor(kind: DatasetKind, cursor: str) -> list[Any]:
    columns = order_columns(kind)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        parts = text.split(":")
        if len(parts) != len(columns):
            raise ValueError("wrong number of parts")
        return [_cursor_value(column, part) for column, part in zip(columns, parts, strict=True)]
    except (ValueError, binascii.Error):
        raise ValidationError("bad_cursor", "the cursor was not issued for this dataset") from None


def _cursor_value(column: sa.Column[Any], part: str) -> Any:
    if column.name == "trade_type":
        if part not in TRADE_TYPES:
            raise ValueError(part)
        return part
    value = int(part)
    is_time = isinstance(column.type, sa.DateTime)
    if value not in (CURSOR_TIMES if is_time else CURSOR_IDS):
        raise ValueError(part)
    return to_naive_utc(value) if is_time else value
