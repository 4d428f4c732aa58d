"""Binance USD-M futures REST client: weight-limited, retried, paginated into domain pages.

httpx errors and Binance error answers are translated into ``ExchangeError``s here and
nowhere else; ``should_retry`` decides which of them are sent again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import httpx
import msgspec
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from petrosa_backfiller.binance import _rows
from petrosa_backfiller.binance._errors import (
    BinanceClientError,
    BinanceRateLimited,
    BinanceServerError,
    BinanceUnavailable,
    should_retry,
)
from petrosa_backfiller.binance._limiter import (
    AGG_TRADES_PATH,
    DEPTH_PATH,
    FUNDING_RATE_PATH,
    KLINES_PATH,
    WeightLimiter,
    request_weight,
)
from petrosa_backfiller.binance._metrics import RATE_LIMITED, REQUEST_SECONDS, REQUESTS, RETRIES
from petrosa_core.errors import ParseError
from petrosa_core.intervals import HOUR_MS, check_interval, count_open_times, next_open
from petrosa_core.models import Candle, FundingRate, Trade
from petrosa_core.times import now_ms

log = logging.getLogger(__name__)

R = TypeVar("R")
Params = Mapping[str, str | int]

# 1000 candles cost 5 and 1500 cost 10: a page of 1000 gives the most rows per weight.
KLINES_PAGE = 1000
FUNDING_PAGE = 1000
AGG_TRADES_PAGE = 1000
# Binance wants an aggTrades startTime/endTime window of less than one hour.
AGG_TRADES_WINDOW_MS = HOUR_MS
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a walk goes on after a page: a start time, or an aggregate-trade id."""

    by: Literal["time", "id"]
    at: int


@dataclass(frozen=True, slots=True)
class RestPage(Generic[R]):
    """Records from one request (possibly none) and the weight spent on it, retries included.

    ``resume`` is where the walk continues after this page; None when this page ends it.
    """

    records: list[R]
    weight: int
    resume: Resume | None = None


class BinanceClient:
    """Reads klines, funding rates, aggregate trades and order books from Binance REST."""

    def __init__(
        self,
        base_url: str,
        limiter: WeightLimiter,
        *,
        timeout: float = 10.0,
        max_attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_connections: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.limiter = limiter
        self._max_attempts, self._backoff, self._max_backoff = max_attempts, backoff, max_backoff
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )

    async def __aenter__(self) -> BinanceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def klines(
        self, symbol: str, interval: str, start: int, end: int, *, now: int | None = None
    ) -> AsyncIterator[RestPage[Candle]]:
        """Candles opening in ``[start, end)``, oldest first; closed if over by ``now``."""
        check_interval(interval)
        now = now if now is not None else now_ms()
        cursor = start
        while (slots := count_open_times(cursor, end, interval)) > 0:
            limit = min(KLINES_PAGE, slots)
            params: Params = {
                "symbol": symbol,
                "interval": interval,
                "startTime": cursor,
                "endTime": end - 1,
                "limit": limit,
            }
            rows, weight = await self._fetch(KLINES_PATH, params, _rows.KLINES)
            candles = [row.to_candle(symbol, interval, now) for row in rows]
            # endTime bounds every request, so a short page means the range is exhausted.
            if len(rows) < limit:
                yield RestPage(candles, weight)
                return
            cursor = _advance(cursor, next_open(rows[-1].open_time, interval), KLINES_PATH)
            yield RestPage(candles, weight, Resume("time", cursor))

    async def funding_rates(
        self, symbol: str, start: int, end: int
    ) -> AsyncIterator[RestPage[FundingRate]]:
        """Funding events in ``[start, end)``, oldest first."""
        cursor = start
        while cursor < end:
            params: Params = {
                "symbol": symbol,
                "startTime": cursor,
                "endTime": end - 1,
                "limit": FUNDING_PAGE,
            }
            rows, weight = await self._fetch(FUNDING_RATE_PATH, params, _rows.FUNDING)
            records = [row.to_record() for row in rows]
            if len(rows) < FUNDING_PAGE:
                yield RestPage(records, weight)
                return
            cursor = _advance(cursor, rows[-1].funding_time + 1, FUNDING_RATE_PATH)
            yield RestPage(records, weight, Resume("time", cursor))

    async def agg_trades(self, symbol: str, start: int, end: int) -> AsyncIterator[RestPage[Trade]]:
        """Aggregate trades in ``[start, end)`` by id: a time window finds the first id only."""
        first_id = None
        async for page in self._first_agg_trades(symbol, start, end):
            yield page
            first_id = page.resume.at if page.resume and page.resume.by == "id" else None
        if first_id is not None:
            async for page in self.agg_trades_from(symbol, first_id, end):
                yield page

    async def agg_trades_from(
        self, symbol: str, first_id: int, end: int
    ) -> AsyncIterator[RestPage[Trade]]:
        """Aggregate trades from id ``first_id`` on, up to trade time ``end`` (exclusive)."""
        while True:
            params: Params = {"symbol": symbol, "fromId": first_id, "limit": AGG_TRADES_PAGE}
            rows, weight = await self._fetch(AGG_TRADES_PATH, params, _rows.AGG_TRADES)
            in_range = [row.to_trade(symbol) for row in rows if row.trade_time < end]
            # A short page is the newest trade; a trade past ``end`` closes the range.
            if len(rows) < AGG_TRADES_PAGE or len(in_range) < len(rows):
                yield RestPage(in_range, weight)
                return
            first_id = rows[-1].agg_id + 1
            yield RestPage(in_range, weight, Resume("id", first_id))

    async def _first_agg_trades(
        self, symbol: str, start: int, end: int
    ) -> AsyncIterator[RestPage[Trade]]:
        """Hour windows from ``start`` until one has trades; its page resumes by id."""
        cursor = start
        while cursor < end:
            last = min(cursor + AGG_TRADES_WINDOW_MS - 1, end - 1)
            params: Params = {
                "symbol": symbol,
                "startTime": cursor,
                "endTime": last,
                "limit": AGG_TRADES_PAGE,
            }
            rows, weight = await self._fetch(AGG_TRADES_PATH, params, _rows.AGG_TRADES)
            trades = [row.to_trade(symbol) for row in rows]
            if rows:
                done = len(rows) < AGG_TRADES_PAGE and last == end - 1
                yield RestPage(trades, weight, None if done else Resume("id", rows[-1].agg_id + 1))
                return
            cursor = last + 1
            yield RestPage(trades, weight, Resume("time", cursor) if cursor < end else None)

    async def order_book(self, symbol: str, limit: int = 1000) -> _rows.OrderBookSnapshot:
        """A depth snapshot of ``limit`` levels a side (5, 10, 20, 50, 100, 500 or 1000)."""
        params: Params = {"symbol": symbol, "limit": limit}
        book, _ = await self._fetch(DEPTH_PATH, params, _rows.ORDER_BOOK)
        return book

    async def _fetch(
        self, path: str, params: Params, decoder: msgspec.json.Decoder[R]
    ) -> tuple[R, int]:
        """GET ``path`` with retries; the decoded body and the weight of every attempt."""
        weight = request_weight(path, params)
        attempts = 0
        retrying = AsyncRetrying(
            retry=retry_if_exception(should_retry),
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_random_exponential(multiplier=self._backoff, max=self._max_backoff),
            before_sleep=_log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                attempts += 1
                body = await self._send(path, params, weight)
        return _rows.decode(decoder, body, path), weight * attempts

    async def _send(self, path: str, params: Params, weight: int) -> bytes:
        """One request under the limiter; Binance's and httpx's failures translated."""
        ticket = await self.limiter.acquire(weight)
        used: int | None = None
        started = time.perf_counter()
        try:
            response = await self._http.get(path, params=params)
            used = _used_weight(response)
        except httpx.TimeoutException as exc:
            REQUESTS.labels(path, "timeout").inc()
            raise BinanceUnavailable(f"GET {path} timed out") from exc
        except httpx.TransportError as exc:
            REQUESTS.labels(path, "error").inc()
            raise BinanceUnavailable(f"GET {path} failed: {exc!r}") from exc
        finally:
            self.limiter.settle(ticket, used)
        REQUEST_SECONDS.labels(path).observe(time.perf_counter() - started)
        REQUESTS.labels(path, str(response.status_code)).inc()
        if response.status_code == httpx.codes.OK:
            return response.content
        raise self._failure(path, response)

    def _failure(self, path: str, response: httpx.Response) -> Exception:
        """The exception for a non-200 answer; a 429 or 418 also pauses every request."""
        status = response.status_code
        code, message = _rows.error_body(response.content)
        if status in (429, 418):
            retry_after = _retry_after(response, default=self.limiter.window)
            self.limiter.pause(retry_after)
            RATE_LIMITED.labels(str(status)).inc()
            log.error(
                "binance rate limit hit: every request paused",
                extra={"status": status, "path": path, "retry_after": retry_after, "code": code},
            )
            return BinanceRateLimited(status, code, message, retry_after)
        if status >= 500 or status == 408:
            return BinanceServerError(status, code, message)
        return BinanceClientError(status, code, message)


def _advance(cursor: int, new_cursor: int, path: str) -> int:
    """Refuse a page that does not move the walk forward, so no walk can loop."""
    if new_cursor <= cursor:
        raise ParseError("rest_page_out_of_order", f"{path}: cursor {new_cursor} <= {cursor}")
    return new_cursor


def _used_weight(response: httpx.Response) -> int | None:
    value = response.headers.get(USED_WEIGHT_HEADER, "")
    return int(value) if value.isdigit() else None


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    reason = type(exc).__name__ if exc else "unknown"
    RETRIES.labels(reason).inc()
    log.warning(
        "binance request failed, retrying",
        extra={"attempt": state.attempt_number, "reason": reason, "error": str(exc)},
    )
