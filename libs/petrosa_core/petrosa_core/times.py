"""The one clock and the one reader of times: epoch ms or ISO-8601 in, UTC epoch ms out.

Every time a request carries (NATS or HTTP, JSON or text) is read by ``parse_time``, with
one set of bounds: 1970-01-01 to 9999-12-31 UTC (``models.MAX_TIME_MS``), the span every
store's timestamp type can hold. Stores convert with ``to_naive_utc`` and ``to_ms``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

from petrosa_core.errors import ValidationError
from petrosa_core.models import MAX_TIME_MS

Clock = Callable[[], int]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = EPOCH.replace(tzinfo=None)
_MS = timedelta(milliseconds=1)
# 9999-12-31 in epoch ms has 15 digits; longer text can only be out of range, and ``int``
# of thousands of digits is refused by Python (and slow before that).
_MAX_DIGITS = len(str(MAX_TIME_MS))
_RANGE = "1970-01-01 .. 9999-12-31 (UTC)"
# How much of a refused value an error message repeats.
_SHOWN_CHARACTERS = 40


def now_ms() -> int:
    """Now as UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


def parse_time(value: object, name: str = "time") -> int:
    """Epoch ms from an integer, ASCII digits or ISO-8601 text (naive means UTC).

    Booleans, floats and other types are refused, as are digits of other scripts and
    times outside 1970..9999: each raises ``ValidationError("bad_time")`` naming ``name``.
    """
    if isinstance(value, str):
        ms = _text_ms(value, name)
    elif isinstance(value, int) and not isinstance(value, bool):
        ms = value
    else:
        raise _not_a_time(value, name)
    if not 0 <= ms <= MAX_TIME_MS:
        raise ValidationError("bad_time", f"{name} {shown(value)} is outside {_RANGE}")
    return ms


def _text_ms(text: str, name: str) -> int:
    value = text.strip()
    # ``isdigit`` alone takes other scripts' digits (full-width, Arabic-Indic).
    if value.isascii() and value.isdigit():
        return int(value) if len(value) <= _MAX_DIGITS else MAX_TIME_MS + 1
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise _not_a_time(text, name) from None
    return to_ms(moment)


def _not_a_time(value: object, name: str) -> ValidationError:
    return ValidationError(
        "bad_time", f"{name} {shown(value)} is neither epoch milliseconds nor ISO-8601"
    )


def shown(value: object) -> str:
    """``value`` for an error message: text quoted, anything else as JSON, cut short."""
    if isinstance(value, str):
        cut = value if len(value) <= _SHOWN_CHARACTERS else value[:_SHOWN_CHARACTERS] + "..."
        return repr(cut)
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        text = type(value).__name__
    return text if len(text) <= _SHOWN_CHARACTERS else text[:_SHOWN_CHARACTERS] + "..."


def to_ms(value: datetime) -> int:
    """Epoch ms of a datetime; a naive one is UTC."""
    if value.tzinfo is None:
        return (value - _NAIVE_EPOCH) // _MS
    return (value - EPOCH) // _MS


def to_datetime(ms: int) -> datetime:
    """The UTC datetime of an epoch-ms time (exact integer arithmetic)."""
    return EPOCH + ms * _MS


def to_naive_utc(ms: int) -> datetime:
    """The naive UTC datetime a SQL timestamp column holds for an epoch-ms time."""
    return _NAIVE_EPOCH + ms * _MS
