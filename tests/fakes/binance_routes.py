"""The fake exchange's endpoints: Binance's parameter rules, error codes and weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.binance_data import HOUR_MS, INTERVALS, MarketData, generated_depth

Query = dict[str, str]

KLINES = "/fapi/v1/klines"
FUNDING_RATE = "/fapi/v1/fundingRate"
AGG_TRADES = "/fapi/v1/aggTrades"
DEPTH = "/fapi/v1/depth"
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


class ApiError(Exception):
    """A Binance error answer: HTTP status plus Binance's own code and message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


@dataclass(frozen=True)
class Route:
    weight: Callable[[Query], int]
    serve: Callable[[MarketData, Query, int, set[str]], Any]


def _int(q: Query, name: str) -> int | None:
    value = q.get(name)
    if value is None or value == "":
        return None
    if not value.lstrip("-").isdigit():
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return int(value)


def _limit(q: Query, default: int, maximum: int) -> int:
    limit = _int(q, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def _symbol(q: Query, unknown: set[str]) -> str:
    symbol = q.get("symbol", "")
    if not symbol:
        raise ApiError(
            400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    if not (symbol.isalnum() and symbol.isupper()) or symbol in unknown:
        raise ApiError(400, -1121, "Invalid symbol.")
    return symbol


def _window(q: Query) -> tuple[int | None, int | None]:
    start, end = _int(q, "startTime"), _int(q, "endTime")
    if start is not None and end is not None and start > end:
        raise ApiError(400, -1023, "Start time is greater than end time.")
    return start, end


def _limit_or(q: Query, default: int) -> int:
    """The limit a weight is priced on; a malformed one is priced as the default."""
    value = q.get("limit", "")
    return int(value) if value.isdigit() else default


def klines_weight(q: Query) -> int:
    limit = _limit_or(q, 500)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def depth_weight(q: Query) -> int:
    limit = _limit_or(q, 500)
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def serve_klines(data: MarketData, q: Query, now: int, unknown: set[str]) -> Any:
    symbol = _symbol(q, unknown)
    interval = q.get("interval", "")
    if interval not in INTERVALS:
        raise ApiError(400, -1120, "Invalid interval.")
    start, end = _window(q)
    return data.klines(symbol, interval, start, end, _limit(q, 500, 1500), now)


def serve_funding(data: MarketData, q: Query, now: int, unknown: set[str]) -> Any:
    symbol = _symbol(q, unknown)
    start, end = _window(q)
    return data.funding(symbol, start, end, _limit(q, 100, 1000), now)


def serve_agg_trades(data: MarketData, q: Query, now: int, unknown: set[str]) -> Any:
    symbol = _symbol(q, unknown)
    limit, from_id = _limit(q, 500, 1000), _int(q, "fromId")
    window = _hour_window(*_window(q))
    if from_id is not None:
        return data.agg_trades_from(symbol, from_id, limit, now)
    if window is None:
        return data.latest_agg_trades(symbol, limit, now)
    return data.agg_trades_between(symbol, *window, limit, now)


def _hour_window(start: int | None, end: int | None) -> tuple[int, int] | None:
    """The aggTrades time window: under an hour; one side alone spans the hour from it."""
    if start is None:
        return None if end is None else (end - HOUR_MS + 1, end)
    if end is None:
        return start, start + HOUR_MS - 1
    if end - start >= HOUR_MS:
        raise ApiError(400, -1127, "More than 1 hours between startTime and endTime.")
    return start, end


def serve_depth(data: MarketData, q: Query, now: int, unknown: set[str]) -> Any:
    symbol = _symbol(q, unknown)
    limit = _int(q, "limit") or 500
    if limit not in DEPTH_LIMITS:
        raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
    return generated_depth(symbol, limit, now)


ROUTES: dict[str, Route] = {
    KLINES: Route(klines_weight, serve_klines),
    # Binance prices fundingRate on a separate 500/5min limit; one unit here is a bound.
    FUNDING_RATE: Route(lambda q: 1, serve_funding),
    AGG_TRADES: Route(lambda q: 20, serve_agg_trades),
    DEPTH: Route(depth_weight, serve_depth),
    "/fapi/v1/ping": Route(lambda q: 1, lambda data, q, now, unknown: {}),
    "/fapi/v1/time": Route(lambda q: 1, lambda data, q, now, unknown: {"serverTime": now}),
}
