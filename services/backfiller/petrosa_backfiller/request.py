"""Backfill requests as they arrive on NATS: decoded, checked, and turned into a job's terms."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import msgspec

from petrosa_core.errors import ValidationError
from petrosa_core.models import MAX_TIME_MS, DatasetId, DatasetKind


class DataType(StrEnum):
    """What a backfill fetches; each maps to one dataset kind and one Binance endpoint."""

    CANDLES = "candles"
    FUNDING_RATES = "funding_rates"
    AGG_TRADES = "agg_trades"


DATASET_KIND: dict[DataType, DatasetKind] = {
    DataType.CANDLES: DatasetKind.CANDLES,
    DataType.FUNDING_RATES: DatasetKind.FUNDING_RATES,
    DataType.AGG_TRADES: DatasetKind.TRADES,
}

Clock = Callable[[], int]
DEFAULT_ORIGIN = "nats"
# A request is a few hundred bytes; the bound leaves room for fields callers add and keeps a
# hostile payload from costing more than a moment of decoding.
MAX_REQUEST_BYTES = 8192
# Epoch milliseconds up to 9999-12-31 have 15 digits; more can only be out of range.
_MAX_TIME_DIGITS = len(str(MAX_TIME_MS))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

SOURCE: dict[DataType, str] = {
    DataType.CANDLES: "binance:/fapi/v1/klines",
    DataType.FUNDING_RATES: "binance:/fapi/v1/fundingRate",
    DataType.AGG_TRADES: "binance:/fapi/v1/aggTrades",
}


class BackfillRequest(msgspec.Struct, frozen=True):
    """A checked request: fetch ``data_type`` of ``dataset`` over ``[start, end)``."""

    dataset: DatasetId
    data_type: DataType
    start: int
    end: int
    origin: str = DEFAULT_ORIGIN


def now_ms() -> int:
    """Now as UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


def parse_request(payload: bytes, now: int) -> BackfillRequest:
    """Decode and check a request; an ``end`` past ``now`` (or missing) becomes ``now``."""
    body = decode_object(payload)
    data_type = _data_type(body.get("data_type"))
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise ValidationError("missing_symbol", "symbol is required, e.g. BTCUSDT")
    interval = body.get("interval")
    if interval is not None and not isinstance(interval, str):
        raise ValidationError("unknown_interval", f"{_shown(interval)} is not an interval")
    dataset = DatasetId.of(DATASET_KIND[data_type], symbol, interval)
    if "start" not in body or body["start"] is None:
        raise ValidationError("missing_start", "start is required (epoch ms or ISO-8601)")
    start = parse_time(body["start"], "start")
    end = now if body.get("end") is None else min(parse_time(body["end"], "end"), now)
    if start >= end:
        raise ValidationError("bad_range", f"start {start} is not before end {end}")
    return BackfillRequest(dataset, data_type, start, end, _origin(body.get("origin")))


def decode_object(payload: bytes) -> dict[str, Any]:
    """The JSON object in ``payload``; anything else raises ``ValidationError``."""
    if len(payload) > MAX_REQUEST_BYTES:
        raise ValidationError(
            "payload_too_large",
            f"a request may hold at most {MAX_REQUEST_BYTES} bytes, not {len(payload)}",
        )
    try:
        body = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise ValidationError("bad_json", str(exc)) from None
    except RecursionError:
        # msgspec's decoder recurses once per nested array or object.
        raise ValidationError("bad_json", "the request nests too deeply") from None
    if not isinstance(body, dict):
        raise ValidationError("bad_request", "the request must be a JSON object")
    return body


def _origin(value: object) -> str:
    """Who asked (``auditor``, ``api``, ``cli``); kept on the job row."""
    if value is None:
        return DEFAULT_ORIGIN
    if not isinstance(value, str) or not 0 < len(value) <= 32:
        raise ValidationError("bad_origin", "origin must be 1..32 characters")
    return value


def _data_type(value: object) -> DataType:
    known = ", ".join(t.value for t in DataType)
    if value is None:
        raise ValidationError("missing_data_type", f"data_type is required: one of {known}")
    if not isinstance(value, str) or value not in DataType.__members__.values():
        raise ValidationError("unknown_data_type", f"{_shown(value)} is not one of {known}")
    return DataType(value)


def parse_time(value: object, field: str) -> int:
    """Epoch milliseconds from an integer or an ISO-8601 string (naive means UTC)."""
    ms = _epoch_ms(value, field)
    if not 0 <= ms <= MAX_TIME_MS:
        raise _out_of_range(value, field)
    return ms


def _epoch_ms(value: object, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        # ``isdigit`` alone takes other scripts' digits, and ``int`` refuses very long text.
        if text.isascii() and text.isdigit():
            if len(text) > _MAX_TIME_DIGITS:
                raise _out_of_range(value, field)
            return int(text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("bad_time", f"{field} {_shown(value)} is not ISO-8601") from None
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _MS
    raise ValidationError("bad_time", f"{field} must be epoch ms or ISO-8601, not {_shown(value)}")


def _out_of_range(value: object, field: str) -> ValidationError:
    return ValidationError(
        "bad_time", f"{field} {_shown(value)} is not a time between 1970 and 9999"
    )


def _shown(value: object) -> str:
    """``value`` for an error reply, cut short so a hostile value is not echoed whole."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}...'"
