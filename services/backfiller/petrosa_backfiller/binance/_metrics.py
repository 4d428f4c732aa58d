"""Prometheus series of the Binance REST client; one process per pod, default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "data_manager_binance_requests_total",
    "Binance REST requests by endpoint and outcome (HTTP status, timeout or error).",
    ["endpoint", "outcome"],
)
RATE_LIMITED = Counter(
    "data_manager_binance_rate_limited_total",
    "429 and 418 answers; with a correct limiter these stay at zero.",
    ["status"],
)
RETRIES = Counter(
    "data_manager_binance_retries_total",
    "Requests sent again after a retryable failure, by failure kind.",
    ["reason"],
)
USED_WEIGHT = Gauge(
    "data_manager_binance_used_weight",
    "Request weight used in the current window, as last reported by Binance.",
)
LIMITER_WAIT = Counter(
    "data_manager_binance_limiter_wait_seconds_total",
    "Time requests spent waiting for weight budget or a rate-limit pause.",
)
REQUEST_SECONDS = Histogram(
    "data_manager_binance_request_duration_seconds",
    "Binance REST round-trip time by endpoint.",
    ["endpoint"],
)
