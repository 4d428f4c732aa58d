"""Prometheus metrics of the analytics; ``data_manager_`` prefix and base units.

Named ``telemetry`` because ``metrics`` is the metric library (volatility, trend, ...).
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

METRICS_COMPUTED = Counter(
    "data_manager_analytics_metrics_computed_total",
    "Metric results computed, by family",
    ["family"],
)
COMPUTE_SECONDS = Histogram(
    "data_manager_analytics_computation_duration_seconds",
    "Time to compute one family's metrics for one dataset, by family",
    ["family"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
ITEMS = Counter(
    "data_manager_analytics_items_processed_total",
    "Work items settled, by result (computed, skipped, retried, dead_lettered)",
    ["result"],
)
ITEM_SECONDS = Histogram(
    "data_manager_analytics_item_duration_seconds",
    "Time to read, compute and store one dataset, by phase (read, compute, store, total)",
    ["phase"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ROUNDS_PUBLISHED = Counter(
    "data_manager_analytics_rounds_published_total", "Scheduled rounds this leader published"
)
REQUESTS = Counter(
    "data_manager_analytics_requests_total",
    "On-demand requests answered, by result (ok, refused, failed)",
    ["result"],
)
NEWEST_RESULT = Gauge(
    "data_manager_analytics_newest_result_timestamp_seconds",
    "When this process last stored a result (epoch seconds; 0 before the first)",
)
NEWEST_RESULT_AGE = Gauge(
    "data_manager_analytics_newest_result_age_seconds",
    "Seconds since this process last stored a result (-1 before the first)",
)


_newest = [0.0]  # epoch seconds of the last stored result, for the age gauge


def _age() -> float:
    return time.time() - _newest[0] if _newest[0] > 0 else -1.0


NEWEST_RESULT_AGE.set_function(_age)


def stored_now() -> None:
    _newest[0] = time.time()
    NEWEST_RESULT.set(_newest[0])
