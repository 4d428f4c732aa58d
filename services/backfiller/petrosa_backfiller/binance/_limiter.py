"""One request-weight budget shared by every request this process sends to Binance.

Binance counts weight per IP in fixed windows aligned to the clock and reports its count
in ``X-MBX-USED-WEIGHT-1M``. The limiter keeps an upper bound of that count for the
current window and sends a request only if its weight still fits under the budget:

    bound = highest count reported for a request sent and answered in this window
          + weight of requests in flight
          + weight of requests answered without a count that can be trusted for this
            window (sent in an earlier one, or no answer), which Binance may count here
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from petrosa_backfiller.binance._metrics import LIMITER_WAIT, USED_WEIGHT
from petrosa_core.errors import ConfigError

KLINES_PATH = "/fapi/v1/klines"
FUNDING_RATE_PATH = "/fapi/v1/fundingRate"
AGG_TRADES_PATH = "/fapi/v1/aggTrades"
DEPTH_PATH = "/fapi/v1/depth"

AGG_TRADES_WEIGHT = 20
# Binance meters fundingRate on its own 500/5min limit; one unit here keeps us honest
# should it also count toward the IP weight.
FUNDING_RATE_WEIGHT = 1
_DEFAULT_LIMITS = {KLINES_PATH: 500, DEPTH_PATH: 500}
# A new window starts this fraction of a window late, to absorb clock skew with Binance.
_BOUNDARY_GUARD = 0.01


def klines_weight(limit: int) -> int:
    """Weight of ``GET /fapi/v1/klines`` by ``limit``: 1, 2, 5 or 10."""
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def depth_weight(limit: int) -> int:
    """Weight of ``GET /fapi/v1/depth`` by ``limit``: 2 up to 50 levels, then 5, 10, 20."""
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def request_weight(path: str, params: Mapping[str, object]) -> int:
    """What Binance charges for ``GET path?params``; unknown paths are charged 1."""
    limit = int(str(params.get("limit", _DEFAULT_LIMITS.get(path, 0))))
    if path == KLINES_PATH:
        return klines_weight(limit)
    if path == DEPTH_PATH:
        return depth_weight(limit)
    if path == AGG_TRADES_PATH:
        return AGG_TRADES_WEIGHT
    return FUNDING_RATE_WEIGHT if path == FUNDING_RATE_PATH else 1


@dataclass(frozen=True, slots=True)
class Ticket:
    """Weight reserved for one request, and the window it was sent in."""

    weight: int
    window: int


class WeightLimiter:
    """Reserve weight before each request; settle it with Binance's count after."""

    def __init__(
        self,
        limit: int = 2400,
        window: float = 60.0,
        safety_margin: float = 0.05,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= safety_margin < 1:
            raise ConfigError(f"safety_margin must be in [0, 1), got {safety_margin}")
        self.limit, self.window, self._clock = limit, window, clock
        # Left unused for other clients on the same IP and for clock skew with Binance.
        self.budget = max(1, int(limit * (1 - safety_margin)))
        self._window_index = int(clock() // window)
        self._reported = 0
        self._unattributed = 0
        self._in_flight = 0
        self._paused_until = 0.0

    @property
    def estimate(self) -> int:
        """Upper bound of the weight Binance has counted in the current window."""
        self._roll(self._clock())
        return self._reported + self._unattributed + self._in_flight

    @property
    def paused_until(self) -> float:
        """Clock time before which no request may be sent (after a 429 or 418)."""
        return self._paused_until

    async def acquire(self, weight: int) -> Ticket:
        """Wait until ``weight`` fits in the budget and no pause is on, then reserve it."""
        if weight > self.budget:
            raise ConfigError(f"BINANCE_WEIGHT_LIMIT {self.limit} is below a request of {weight}")
        started = time.monotonic()
        # Each sleep ends at a known time (next window or end of a pause); no event to await.
        while (delay := self._delay_for(weight)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)
        LIMITER_WAIT.inc(time.monotonic() - started)
        self._in_flight += weight
        return Ticket(weight, self._window_index)

    def settle(self, ticket: Ticket, used_weight: int | None) -> None:
        """Release ``ticket``; ``used_weight`` is the response's header, if there was one."""
        self._in_flight -= ticket.weight
        self._roll(self._clock())
        if used_weight is not None and ticket.window == self._window_index:
            self._reported = max(self._reported, used_weight)
            USED_WEIGHT.set(used_weight)
        else:
            self._unattributed += ticket.weight

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds``, as Binance's ``Retry-After`` demands."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _delay_for(self, weight: int) -> float:
        """Seconds to wait before ``weight`` may be sent; 0 when it may go now."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        self._roll(now)
        if self._reported + self._unattributed + self._in_flight + weight <= self.budget:
            return 0.0
        return (self._window_index + 1 + _BOUNDARY_GUARD) * self.window - now

    def _roll(self, now: float) -> None:
        index = int(now // self.window)
        if index != self._window_index:
            self._window_index = index
            self._reported = 0
            self._unattributed = 0
