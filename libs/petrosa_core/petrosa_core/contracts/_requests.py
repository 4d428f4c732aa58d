"""Requests on NATS: a backfill to run, a job to cancel or look up.

``BackfillRequest.decode`` reads any payload a peer may send and refuses what breaks a rule
with a ``ValidationError`` whose reason is an ``ErrorCode``; ``checked`` then turns a
request into a job's terms. Senders build a ``BackfillRequest`` and ``encode`` it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from petrosa_core.errors import ValidationError
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.times import parse_time, shown

# A request is a few hundred bytes; the bound leaves room for fields callers add and keeps a
# hostile payload from costing more than a moment of decoding.
MAX_REQUEST_BYTES = 8192
# Who asked, kept on the job row: ``auditor``, ``api``, ``cli``; ``nats`` when unsaid.
DEFAULT_ORIGIN = "nats"
MAX_ORIGIN_LENGTH = 32


class DataType(StrEnum):
    """What a backfill fetches; each maps to one dataset kind and one Binance endpoint."""

    CANDLES = "candles"
    FUNDING_RATES = "funding_rates"
    AGG_TRADES = "agg_trades"

    @property
    def kind(self) -> DatasetKind:
        return _KIND[self]

    @classmethod
    def of_kind(cls, kind: DatasetKind) -> DataType | None:
        """The data type that backfills ``kind``; None when Binance REST has no history of it."""
        return next((t for t, k in _KIND.items() if k is kind), None)


_KIND = {
    DataType.CANDLES: DatasetKind.CANDLES,
    DataType.FUNDING_RATES: DatasetKind.FUNDING_RATES,
    DataType.AGG_TRADES: DatasetKind.TRADES,
}


class BackfillTerms(msgspec.Struct, frozen=True):
    """A checked request: fetch ``data_type`` of ``dataset`` over ``[start, end)``."""

    dataset: DatasetId
    data_type: DataType
    start: int
    end: int
    origin: str = DEFAULT_ORIGIN


class BackfillRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``{"symbol", "data_type", "interval"?, "start", "end"?, "origin"?}``; times epoch ms.

    A missing ``end`` means now; ``interval`` is for candles only.
    """

    symbol: str
    data_type: DataType
    start: int
    end: int | None = None
    interval: str | None = None
    origin: str | None = None

    @classmethod
    def for_dataset(
        cls, dataset: DatasetId, start: int, end: int | None, *, origin: str
    ) -> BackfillRequest:
        """The request that fills ``[start, end)`` of ``dataset``; ValidationError if none can."""
        data_type = DataType.of_kind(dataset.kind)
        if data_type is None:
            raise ValidationError("unknown_data_type", f"{dataset.kind.value} cannot be backfilled")
        return cls(
            symbol=dataset.symbol,
            data_type=data_type,
            start=start,
            end=end,
            interval=dataset.interval,
            origin=origin,
        )

    @classmethod
    def decode(cls, payload: bytes) -> BackfillRequest:
        """Read a request as a peer sent it; times may be epoch ms or ISO-8601 text."""
        body = decode_object(payload)
        data_type = _data_type(body.get("data_type"))
        symbol = body.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise ValidationError("missing_symbol", "symbol is required, e.g. BTCUSDT")
        interval = body.get("interval")
        if interval is not None and not isinstance(interval, str):
            raise ValidationError("unknown_interval", f"{shown(interval)} is not an interval")
        if body.get("start") is None:
            raise ValidationError("missing_start", "start is required (epoch ms or ISO-8601)")
        end = body.get("end")
        return cls(
            symbol=symbol,
            data_type=data_type,
            start=parse_time(body["start"], "start"),
            end=None if end is None else parse_time(end, "end"),
            interval=interval,
            origin=None if body.get("origin") is None else _origin(body["origin"]),
        )

    def encode(self) -> bytes:
        return _encode(self)

    def checked(self, now: int) -> BackfillTerms:
        """The job's terms; an ``end`` past ``now`` (or missing) becomes ``now``."""
        dataset = DatasetId.of(self.data_type.kind, self.symbol, self.interval)
        start = parse_time(self.start, "start")
        end = now if self.end is None else min(parse_time(self.end, "end"), now)
        if start >= end:
            raise ValidationError("bad_range", f"start {start} is not before end {end}")
        return BackfillTerms(dataset, self.data_type, start, end, _origin(self.origin))


class JobRef(msgspec.Struct, frozen=True):
    """``{"job_id"}``: the job a cancel or status request names."""

    job_id: str

    @classmethod
    def decode(cls, payload: bytes) -> JobRef:
        job_id = decode_object(payload).get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ValidationError("missing_job_id", "job_id is required")
        return cls(job_id)

    def encode(self) -> bytes:
        return _encode(self)


def decode_object(payload: bytes, max_bytes: int = MAX_REQUEST_BYTES) -> dict[str, Any]:
    """The JSON object in ``payload``; anything else raises ``ValidationError``."""
    if len(payload) > max_bytes:
        raise ValidationError(
            "payload_too_large",
            f"a request may hold at most {max_bytes} bytes, not {len(payload)}",
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
    if value is None:
        return DEFAULT_ORIGIN
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ORIGIN_LENGTH:
        raise ValidationError("bad_origin", f"origin must be 1..{MAX_ORIGIN_LENGTH} characters")
    return value


def _data_type(value: object) -> DataType:
    known = ", ".join(t.value for t in DataType)
    if value is None:
        raise ValidationError("missing_data_type", f"data_type is required: one of {known}")
    if not isinstance(value, str) or value not in DataType.__members__.values():
        raise ValidationError("unknown_data_type", f"{shown(value)} is not one of {known}")
    return DataType(value)


_encode = msgspec.json.Encoder().encode
