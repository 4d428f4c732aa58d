"""Binance USD-M futures REST: a weight-aware client paging into domain records."""

from petrosa_backfiller.binance._client import (
    AGG_TRADES_PAGE,
    FUNDING_PAGE,
    KLINES_PAGE,
    BinanceClient,
    RestPage,
)
from petrosa_backfiller.binance._errors import (
    BinanceClientError,
    BinanceRateLimited,
    BinanceServerError,
    BinanceUnavailable,
    should_retry,
)
from petrosa_backfiller.binance._limiter import (
    Ticket,
    WeightLimiter,
    depth_weight,
    klines_weight,
    request_weight,
)
from petrosa_backfiller.binance._rows import OrderBookSnapshot

__all__ = [
    "AGG_TRADES_PAGE",
    "FUNDING_PAGE",
    "KLINES_PAGE",
    "BinanceClient",
    "BinanceClientError",
    "BinanceRateLimited",
    "BinanceServerError",
    "BinanceUnavailable",
    "OrderBookSnapshot",
    "RestPage",
    "Ticket",
    "WeightLimiter",
    "depth_weight",
    "klines_weight",
    "request_weight",
    "should_retry",
]
