"""The result every metric returns, and the rule that nothing in it is NaN or infinite."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from petrosa_analytics.metrics._bars import Bars, completeness


@dataclass(frozen=True)
class MetricResult:
    """One metric over the last ``window`` bars ending at ``as_of_time`` (a bar's open time)."""

    family: str
    method: str
    window: int
    value: float | dict[str, Any] | list[Any] | None  # None when undefined
    as_of_time: int | None
    completeness: float
    bars_used: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Frozen, so the cleaned copies are set through object.__setattr__.
        object.__setattr__(self, "value", json_safe(self.value))
        object.__setattr__(self, "extra", json_safe(self.extra))

    def to_json(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "method": self.method,
            "window": self.window,
            "value": self.value,
            "as_of_time": self.as_of_time,
            "completeness": self.completeness,
            "bars_used": self.bars_used,
            **self.extra,
        }


def json_safe(value: Any) -> Any:
    """Plain Python values with every NaN or infinity (nested too) turned into None."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    # Inline fast path for the common finite float: v - v is 0 for it, NaN for NaN and +-inf.
    if kind is dict:
        return {
            (k if type(k) is str else str(k)): (
                v if type(v) is float and v - v == 0.0 else json_safe(v)
            )
            for k, v in value.items()
        }
    if kind is list or kind is tuple:
        return [v if type(v) is float and v - v == 0.0 else json_safe(v) for v in value]
    if value is None or kind is str or kind is int or kind is bool:
        return value
    return _json_safe_other(value)


def _json_safe_other(value: Any) -> Any:
    """The rarer shapes: numpy scalars and arrays, other mappings and sequences."""
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return json_safe(float(value))
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [json_safe(v) for v in value]
    return value


def finite(value: float) -> float | None:
    """``value`` when finite, else None."""
    return value if math.isfinite(value) else None


def result(
    family: str,
    method: str,
    window: int,
    used: Bars,
    requested: int,
    value: float | dict[str, Any] | list[Any] | None,
    **extra: Any,
) -> MetricResult:
    """A result over the bars ``used``, whose completeness counts against ``requested`` bars."""
    if isinstance(value, float) and not math.isfinite(value):
        # Only a zero, negative or missing price or volume gets here: say so, not a bare null.
        value, extra = (
            None,
            {
                **extra,
                "reason": "not finite: the window holds a zero, negative or missing (NaN) value",
            },
        )
    return MetricResult(
        family=family,
        method=method,
        window=window,
        value=value,
        as_of_time=int(used.open_time[-1]) if len(used) else None,
        completeness=completeness(used, requested),
        bars_used=len(used),
        extra=extra,
    )


def undefined(
    family: str, method: str, window: int, used: Bars, requested: int, reason: str
) -> MetricResult:
    """A result with no value, saying why (too few bars, zero volume, a flat price...)."""
    return result(family, method, window, used, requested, None, reason=reason)
