"""What every MarketStore backend refuses before it touches its database."""

from __future__ import annotations

from collections.abc import Sequence

from petrosa_core.errors import ValidationError
from petrosa_core.models import MAX_TIME_MS, DatasetId, DatasetKind, Record

# The most records one query returns (and the API's page size cap): longer reads page
# with cursors, so no single answer holds an unbounded number of records in memory.
MAX_LIMIT = 10_000
TRADE_TYPES = ("agg", "raw")
# What every backend can store, so all a cursor may name: times 1970..9999, int64 keys;
# past these a driver would overflow.
CURSOR_TIMES = range(MAX_TIME_MS + 1)
CURSOR_IDS = range(-(2**63), 2**63)


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("bad_limit", f"limit must be 1..{MAX_LIMIT}, not {limit}")


def check_order(order: str) -> None:
    if order not in ("asc", "desc"):
        raise ValidationError("bad_order", f"order must be asc or desc, not {order!r}")


def check_trade_type(dataset: DatasetId, trade_type: str | None) -> None:
    """A trade type filters trades only, and is "agg" or "raw"."""
    if trade_type is None:
        return
    if dataset.kind is not DatasetKind.TRADES:
        raise ValidationError("unexpected_trade_type", f"{dataset} has no trade types")
    if trade_type not in TRADE_TYPES:
        raise ValidationError(
            "bad_trade_type", f"trade_type must be agg or raw, not {trade_type!r}"
        )


def check_batch(dataset: DatasetId, records: Sequence[Record]) -> None:
    """A batch holds records of its own dataset only; one stray record refuses it whole."""
    for record in records:
        if record.dataset != dataset:
            raise ValidationError(
                "foreign_record", f"a {record.dataset} record in a batch for {dataset}"
            )
