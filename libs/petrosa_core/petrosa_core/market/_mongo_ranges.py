"""Time filters that are exact on every MongoDB-wire server, and the paging cursor.

nx-27017 compares dates through SQLite's ``datetime()``, which drops the milliseconds.
Bounds on whole seconds are therefore exact everywhere; the store sends only such bounds
and settles the sub-second edges in Python.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import msgspec
from bson import DatetimeMS

from petrosa_core.errors import ValidationError
from petrosa_core.market._mongo_layout import Position
from petrosa_core.market._rules import CURSOR_IDS, CURSOR_TIMES
from petrosa_core.market.protocol import Order
from petrosa_core.models import KIND_SPECS, DatasetId

SECOND_MS = 1000

Bounds = tuple[int | None, int | None]


def floor_second(ms: int) -> int:
    return ms - ms % SECOND_MS


def ceil_second(ms: int) -> int:
    return -(-ms // SECOND_MS) * SECOND_MS


def covering(start: int | None, end: int | None) -> Bounds:
    """The smallest second-aligned range holding ``[start, end)``."""
    return (
        None if start is None else floor_second(start),
        None if end is None else ceil_second(end),
    )


def split_exact(start: int | None, end: int | None) -> tuple[Bounds | None, list[Bounds]]:
    """Cut ``[start, end)`` into a second-aligned middle and the sub-second edges around it."""
    if start is not None and end is not None and ceil_second(start) >= floor_second(end):
        return None, [(start, end)] if start < end else []
    low = None if start is None else ceil_second(start)
    high = None if end is None else floor_second(end)
    edges: list[Bounds] = []
    if start is not None and start != low:
        edges.append((start, low))
    if end is not None and end != high:
        edges.append((high, end))
    return (low, high), edges


def time_filter(field: str, bounds: Bounds) -> dict[str, Any]:
    """A filter on second-aligned ``bounds``; an open side adds no condition."""
    low, high = bounds
    condition: dict[str, DatetimeMS] = {}
    if low is not None:
        condition["$gte"] = DatetimeMS(low)
    if high is not None:
        condition["$lt"] = DatetimeMS(high)
    return {field: condition} if condition else {}


def encode_cursor(order: str, after: Position) -> str:
    raw = msgspec.json.encode([order, *after])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, order: str, types: tuple[type, ...]) -> Position:
    """The position a cursor resumes after; ``ValidationError("bad_cursor")`` if malformed."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        items = msgspec.json.decode(raw)
    except (ValueError, msgspec.DecodeError):
        raise ValidationError("bad_cursor", "not a cursor of this store") from None
    if not _fits(items, order, types):
        raise ValidationError("bad_cursor", f"not an {order} cursor of this dataset")
    return tuple(items[1:])


def _fits(items: object, order: str, types: tuple[type, ...]) -> bool:
    if not isinstance(items, list) or len(items) != len(types) + 1 or items[0] != order:
        return False
    if not all(type(value) is kind for value, kind in zip(items[1:], types, strict=True)):
        return False
    time, *keys = items[1:]
    return time in CURSOR_TIMES and all(k in CURSOR_IDS for k in keys if type(k) is int)


@dataclass(frozen=True)
class Window:
    """A stretch of one dataset read in one direction, optionally resuming after a cursor."""

    dataset: DatasetId
    start: int | None = None
    end: int | None = None
    order: Order = "asc"
    after: Position | None = None
    trade_type: str | None = None

    def server_filter(self) -> dict[str, Any]:
        """A second-aligned superset of the window, which every server evaluates exactly."""
        low, high = self.start, self.end
        if self.after is not None:
            resume = int(self.after[0])
            if self.order == "asc":
                low = resume if low is None else max(low, resume)
            else:
                high = resume + 1 if high is None else min(high, resume + 1)
        query = time_filter(KIND_SPECS[self.dataset.kind].time_field, covering(low, high))
        if self.trade_type is not None:
            query["trade_type"] = self.trade_type
        return query

    def sort(self) -> list[tuple[str, int]]:
        direction = 1 if self.order == "asc" else -1
        return [(name, direction) for name in KIND_SPECS[self.dataset.kind].order_fields]

    def admits(self, where: Position) -> bool:
        time = int(where[0])
        if (self.start is not None and time < self.start) or (
            self.end is not None and time >= self.end
        ):
            return False
        if self.after is None:
            return True
        return where > self.after if self.order == "asc" else where < self.after

    def is_behind(self, time: int) -> bool:
        """Whether sorted reading has run past the window, so nothing later can match."""
        if self.order == "asc":
            return self.end is not None and time >= self.end
        return self.start is not None and time < self.start
