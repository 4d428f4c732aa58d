"""Analytics messages: a scheduled work item, an on-demand request, and its reply.

The families and their default methods are pinned by the read-side interface (GET
``/analysis/{family}``), so the API and the analytics process share them from here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from petrosa_core.contracts._requests import decode_object
from petrosa_core.errors import ParseError, ValidationError
from petrosa_core.market.analytics import AnalyticsResult
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.times import shown

# Scheduled work: one item per dataset per round, in a work-queue stream every replica
# pulls from through one durable consumer.
ANALYTICS_WORK = "petrosa.analytics.work"
ANALYTICS_WORK_STREAM = "ANALYTICS_WORK"
ANALYTICS_WORK_CONSUMER = "analytics"
# Request/reply: an ``AnalyticsRequest`` in, an ``AnalyticsReply`` or ``ErrorReply`` out.
ANALYTICS_REQUEST = "petrosa.analytics.request"
ANALYTICS_QUEUE_GROUP = "analytics"
# Work items that can never be computed, with the reason in a header.
ANALYTICS_DEADLETTERS = "petrosa.deadletter.analytics"

# The metric a family answers when the caller names no method.
DEFAULT_METHODS: dict[str, str] = {
    "volatility": "close_to_close",
    "volume": "total",
    "spread": "corwin_schultz",
    "trend": "sma",
    "deviation": "zscore",
    "seasonality": "hour_of_day",
    "correlation": "pearson",
    "regime": "volatility_trend",
}
ANALYTICS_FAMILIES = tuple(DEFAULT_METHODS)
# A correlation matrix of more pairs is a different product (a screener), not a request.
MAX_PAIRS = 20
# Any window above this is refused outright; the analytics process sets a tighter bound.
MAX_WINDOW = 1_000_000


class AnalyticsWork(msgspec.Struct, frozen=True):
    """Compute every metric of ``dataset`` for round ``round_id`` (leader term ``token``)."""

    round_id: str
    dataset: str
    token: int
    issued_time: int

    @classmethod
    def decode(cls, payload: bytes) -> AnalyticsWork:
        try:
            work = _decode_work(payload)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise ParseError("bad_work_item", f"not an analytics work item: {exc}") from None
        try:
            DatasetId.parse(work.dataset)
        except ValidationError as exc:
            raise ParseError("bad_work_item", f"dataset: {exc}") from None
        if not 0 < len(work.round_id) <= 64:
            raise ParseError("bad_work_item", "a round id is 1 to 64 characters")
        return work

    @property
    def dataset_id(self) -> DatasetId:
        return DatasetId.parse(self.dataset)

    def encode(self) -> bytes:
        return _encode(self)


class AnalyticsRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``{"family", "pairs": [...], "period", "method"?, "window"?}``: compute now.

    Correlation takes 2..20 pairs; every other family exactly one.
    """

    family: str
    pairs: list[str]
    period: str
    method: str | None = None
    window: int | None = None

    @property
    def datasets(self) -> list[DatasetId]:
        return [DatasetId.of(DatasetKind.CANDLES, pair, self.period) for pair in self.pairs]

    @classmethod
    def decode(cls, payload: bytes) -> AnalyticsRequest:
        body = decode_object(payload)
        family = body.get("family")
        if family not in DEFAULT_METHODS:
            known = ", ".join(ANALYTICS_FAMILIES)
            raise ValidationError("unknown_family", f"{shown(family)} is not one of {known}")
        request = cls(
            family=family,
            pairs=_pairs(family, body.get("pairs")),
            period=_text("period", body.get("period")),
            method=None if body.get("method") is None else _text("method", body["method"]),
            window=_window(body.get("window")),
        )
        request.datasets  # noqa: B018 - checks every symbol and the interval
        return request

    def encode(self) -> bytes:
        return _encode(self)


class AnalyticsReply(msgspec.Struct, frozen=True):
    """The results computed for a request (stored too, except correlation matrices)."""

    results: list[AnalyticsResult]

    @classmethod
    def decode(cls, payload: bytes) -> AnalyticsReply:
        try:
            return _decode_reply(payload)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise ParseError("bad_reply", f"not an analytics reply: {exc}") from None

    def encode(self) -> bytes:
        return _encode(self)


def _pairs(family: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationError("bad_pairs", "pairs must be a list of symbols")
    wanted = (2, MAX_PAIRS) if family == "correlation" else (1, 1)
    if not wanted[0] <= len(value) <= wanted[1] or len(set(value)) != len(value):
        raise ValidationError(
            "bad_pairs", f"{family} takes {wanted[0]} to {wanted[1]} distinct pairs"
        )
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 32:
        raise ValidationError(f"bad_{name}", f"{name} must be 1 to 32 characters")
    return value


def _window(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_WINDOW:
        raise ValidationError("bad_window", "window must be a whole number of bars, 2 or more")
    return value


_encode = msgspec.json.Encoder().encode
_decode_work = msgspec.json.Decoder(AnalyticsWork).decode
_decode_reply = msgspec.json.Decoder(AnalyticsReply).decode
