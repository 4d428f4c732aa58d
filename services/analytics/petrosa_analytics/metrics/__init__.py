"""Market metrics over closed candles: a pure numpy library, no I/O (docs/analytics.md).

The analytics engine loads candles into :class:`Bars`, calls :func:`compute` per family (or
:func:`compute_all`), and stores and serves the :class:`MetricResult`\\ s.
"""

from petrosa_analytics.metrics._bars import Bars
from petrosa_analytics.metrics._book import book_spread
from petrosa_analytics.metrics._correlation import correlation, rolling_correlation
from petrosa_analytics.metrics._registry import (
    DEFAULT_WINDOWS,
    FAMILIES,
    METHODS,
    bars_needed,
    compute,
    compute_all,
)
from petrosa_analytics.metrics._result import MetricResult
from petrosa_analytics.metrics._volume import trade_delta

__all__ = [
    "DEFAULT_WINDOWS",
    "FAMILIES",
    "METHODS",
    "Bars",
    "MetricResult",
    "bars_needed",
    "book_spread",
    "compute",
    "compute_all",
    "correlation",
    "rolling_correlation",
    "trade_delta",
]
