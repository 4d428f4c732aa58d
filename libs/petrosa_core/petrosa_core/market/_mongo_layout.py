"""How market records live in MongoDB: collection names, ``_id`` and document fields.

The names are the original service's, so existing clients keep reading the same data.
Times are BSON dates under their natural field names; everything else is stored as is.
"""

from __future__ import annotations

from typing import Any

import msgspec
from bson import DatetimeMS

from petrosa_core.errors import StoreError, ValidationError
from petrosa_core.models import (
    KIND_SPECS,
    Candle,
    DatasetId,
    DatasetKind,
    Record,
    Trade,
)

Document = dict[str, Any]

Position = tuple[int | str, ...]


# "1M" would differ from "1m" only by case, and servers with case-insensitive
# namespaces (nx-27017 keeps collections as SQLite tables) would merge the two.
_MONTH_SUFFIX = "1mo"


def collection_name(dataset: DatasetId) -> str:
    """``candles_BTCUSDT_1m``, ``trades_BTCUSDT``, ``book_tickers_BTCUSDT``, ..."""
    if dataset.kind is DatasetKind.CANDLES:
        suffix = _MONTH_SUFFIX if dataset.interval == "1M" else dataset.interval
        return f"candles_{dataset.symbol}_{suffix}"
    return f"{dataset.kind.value}_{dataset.symbol}"


def dataset_of(name: str) -> DatasetId | None:
    """The dataset a collection holds, or ``None`` for a collection that is not ours."""
    for kind in DatasetKind:
        prefix = f"{kind.value}_"
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        # Symbols may hold an underscore (BTCUSDT_210924); only candles add a suffix.
        if kind is DatasetKind.CANDLES:
            symbol, _, interval = rest.rpartition("_")
            parts = [symbol, "1M" if interval == _MONTH_SUFFIX else interval]
        else:
            parts = [rest]
        try:
            dataset = DatasetId.of(kind, *parts)
        except (TypeError, ValidationError):
            continue
        if collection_name(dataset) == name:
            return dataset
    return None


def document_id(record: Record) -> str:
    """The deterministic ``_id``: ``"1626992760000"`` for a candle, ``"agg:123"`` for a trade."""
    if isinstance(record, Trade):
        return f"{record.trade_type}:{record.trade_id}"
    return str(record.key)


def is_final(record: Record) -> bool:
    """Whether a stored record may never be replaced: all but open candles."""
    return not isinstance(record, Candle) or record.is_closed


def to_document(record: Record) -> Document:
    doc: Document = {"_id": document_id(record), **msgspec.structs.asdict(record)}
    for name in KIND_SPECS[record.kind].time_fields:
        if doc[name] is not None:
            doc[name] = DatetimeMS(doc[name])
    return doc


def from_document(kind: DatasetKind, doc: Document) -> Record:
    fields = {k: int(v) if isinstance(v, DatetimeMS) else v for k, v in doc.items() if k != "_id"}
    try:
        record: Record = msgspec.convert(fields, KIND_SPECS[kind].record_type)
    except msgspec.ValidationError as exc:
        raise StoreError(f"stored {kind.value} document {doc.get('_id')!r}: {exc}") from exc
    return record


def position(kind: DatasetKind, doc: Document) -> Position:
    """Where a document sorts: its time in epoch ms, then its key fields."""
    time_field, *rest = KIND_SPECS[kind].order_fields
    # bson hands large integers back as ``Int64``; plain ``int`` keeps cursors encodable.
    keys = (doc[name] if name == "trade_type" else int(doc[name]) for name in rest)
    return (int(doc[time_field]), *keys)


def position_types(kind: DatasetKind) -> tuple[type, ...]:
    return tuple(str if name == "trade_type" else int for name in KIND_SPECS[kind].order_fields)


def time_of(kind: DatasetKind, doc: Document) -> int:
    return int(doc[KIND_SPECS[kind].time_field])


def key_of(kind: DatasetKind, doc: Document) -> int:
    return int(doc[KIND_SPECS[kind].key_field])
