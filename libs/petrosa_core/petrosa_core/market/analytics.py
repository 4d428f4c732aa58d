"""Analytics results as the market store keeps them: one metric of one dataset at one time.

A result is keyed by (dataset, family, method, window, as_of_time), so computing it again
from the same candles replaces it rather than adding a copy. A round record says which
datasets a scheduled round has finished, which makes redelivered work items harmless.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from petrosa_core.errors import ValidationError
from petrosa_core.models import DatasetId

# Names become MongoDB collection names (``analytics_{SYMBOL}_{family}``) and SQL keys.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_ROUND_ID_LENGTH = 64
MAX_WORKER_LENGTH = 128


class ResultLineage(msgspec.Struct, frozen=True, kw_only=True):
    """Where a result came from: the candles read (``source``, first and last open time)."""

    source: str
    process: str
    first_time: int | None
    last_time: int | None
    records: int


class AnalyticsResult(msgspec.Struct, frozen=True, kw_only=True):
    """One metric over the last ``window`` closed bars of ``dataset`` ending at ``as_of_time``.

    ``value`` is JSON (a number, an object, a list or null, never NaN); ``completeness``
    is the share of the window's bars that exist (1.0 for a window without gaps).
    """

    dataset: DatasetId
    family: str
    method: str
    window: int
    value: Any
    as_of_time: int
    completeness: float
    bars_used: int
    computed_time: int
    lineage: ResultLineage
    round_id: str = ""
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        return (str(self.dataset), self.family, self.method, self.window, self.as_of_time)


class AnalyticsRound(msgspec.Struct, frozen=True, kw_only=True):
    """``dataset`` was computed in scheduled round ``round_id`` by ``worker``."""

    dataset: DatasetId
    round_id: str
    computed_time: int
    results: int
    worker: str


def check_name(what: str, name: str) -> str:
    """A family or method name: lower-case letters, digits and ``_``, at most 32."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(f"bad_{what}", f"{what} {str(name)[:40]!r} is not a metric name")
    return name


def check_results(results: Sequence[AnalyticsResult]) -> None:
    """Refuse a batch a backend could not key or encode, before anything is written."""
    for result in results:
        check_name("family", result.family)
        check_name("method", result.method)
        if result.window < 1 or not math.isfinite(result.completeness):
            raise ValidationError("bad_result", f"{result.key}: window or completeness invalid")
        if len(result.round_id) > MAX_ROUND_ID_LENGTH:
            raise ValidationError("bad_result", "round ids are at most 64 characters")


def check_round(round: AnalyticsRound) -> None:
    if not 0 < len(round.round_id) <= MAX_ROUND_ID_LENGTH:
        raise ValidationError("bad_round", "a round id is 1 to 64 characters")
    if len(round.worker) > MAX_WORKER_LENGTH:
        raise ValidationError("bad_round", "a worker name is at most 128 characters")


def newest(results: Sequence[AnalyticsResult]) -> list[AnalyticsResult]:
    """For each (method, window), the result with the latest ``as_of_time``, in key order."""
    best: dict[tuple[str, int], AnalyticsResult] = {}
    for result in results:
        slot = (result.method, result.window)
        if slot not in best or best[slot].as_of_time < result.as_of_time:
            best[slot] = result
    return [best[slot] for slot in sorted(best)]


encode_json = msgspec.json.Encoder().encode
_decode_lineage = msgspec.json.Decoder(ResultLineage).decode
_decode_any = msgspec.json.Decoder().decode


def decode_lineage(raw: str | bytes) -> ResultLineage:
    return _decode_lineage(raw)


def decode_json(raw: str | bytes) -> Any:
    return _decode_any(raw)


__all__ = [
    "AnalyticsResult",
    "AnalyticsRound",
    "ResultLineage",
    "check_name",
    "check_results",
    "check_round",
    "newest",
]
