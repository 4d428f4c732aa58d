"""The weight limiter, the request weights it prices, and the client's retry rule."""

from __future__ import annotations

import asyncio

import pytest

import petrosa_backfiller.binance as binance
from petrosa_backfiller.binance import (
    BinanceClientError,
    BinanceRateLimited,
    BinanceServerError,
    BinanceUnavailable,
    WeightLimiter,
    request_weight,
    should_retry,
)
from petrosa_core.errors import ConfigError
from tests.fakes.binance_exchange import ManualClock

KLINES = "/fapi/v1/klines"
FUNDING = "/fapi/v1/fundingRate"
AGG_TRADES = "/fapi/v1/aggTrades"


@pytest.mark.parametrize(
    ("path", "params", "weight"),
    [
        (KLINES, {"limit": 99}, 1),
        (KLINES, {"limit": 100}, 2),
        (KLINES, {"limit": 499}, 2),
        (KLINES, {"limit": 500}, 5),
        (KLINES, {}, 5),
        (KLINES, {"limit": 1000}, 5),
        (KLINES, {"limit": 1001}, 10),
        (FUNDING, {"limit": 1000}, 1),
        (AGG_TRADES, {"limit": 1000}, 20),
        ("/fapi/v1/depth", {"limit": 5}, 2),
        ("/fapi/v1/depth", {"limit": 50}, 2),
        ("/fapi/v1/depth", {"limit": 100}, 5),
        ("/fapi/v1/depth", {}, 10),
        ("/fapi/v1/depth", {"limit": 1000}, 20),
    ],
)
def test_request_weights_follow_binance(path: str, params: dict[str, int], weight: int) -> None:
    assert request_weight(path, params) == weight


async def test_limiter_trusts_the_servers_count_of_its_own_window() -> None:
    clock = ManualClock(1_000.0)
    limiter = WeightLimiter(limit=100, window=10.0, safety_margin=0.0, clock=clock)
    ticket = await limiter.acquire(10)
    assert limiter.estimate == 10
    limiter.settle(ticket, 40)  # someone else on this IP used 30
    assert limiter.estimate == 40
    late = await limiter.acquire(10)
    clock.advance(10)
    limiter.settle(late, 95)  # counted in the last window or this one: assume this one
    assert limiter.estimate == 10


async def test_limiter_holds_requests_until_the_next_window() -> None:
    clock = ManualClock(1_000.0)
    limiter = WeightLimiter(limit=100, window=10.0, safety_margin=0.1, clock=clock)
    assert limiter.budget == 90
    limiter.settle(await limiter.acquire(90), 90)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire(1), 0.05)
    clock.advance(10.2)
    assert (await limiter.acquire(90)).weight == 90


async def test_limiter_pause_holds_every_request() -> None:
    clock = ManualClock(1_000.0)
    limiter = WeightLimiter(limit=100, window=10.0, clock=clock)
    limiter.pause(30)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire(1), 0.05)
    clock.advance(30)
    assert (await limiter.acquire(1)).weight == 1


async def test_limiter_refuses_a_request_heavier_than_the_budget() -> None:
    with pytest.raises(ConfigError):
        await WeightLimiter(limit=10, window=1.0).acquire(20)


def test_should_retry_covers_transient_failures_only() -> None:
    assert should_retry(BinanceServerError(503, -1001, "busy"))
    assert should_retry(BinanceUnavailable("timed out"))
    assert should_retry(BinanceRateLimited(429, -1003, "slow down", 1.0))
    assert not should_retry(BinanceClientError(400, -1121, "Invalid symbol."))
    assert not should_retry(ValueError("not ours"))


def test_public_surface() -> None:
    assert sorted(binance.__all__) == [
        "AGG_TRADES_PAGE",
        "BinanceClient",
        "BinanceClientError",
        "BinanceRateLimited",
        "BinanceServerError",
        "BinanceUnavailable",
        "FUNDING_PAGE",
        "KLINES_PAGE",
        "OrderBookSnapshot",
        "RestPage",
        "Ticket",
        "WeightLimiter",
        "depth_weight",
        "klines_weight",
        "request_weight",
        "should_retry",
    ]


async def test_limiter_keeps_the_highest_count_when_answers_cross() -> None:
    limiter = WeightLimiter(limit=100, window=10.0, safety_margin=0.0, clock=ManualClock(1_000.0))
    early, late = await limiter.acquire(10), await limiter.acquire(10)
    limiter.settle(late, 20)
    limiter.settle(early, 10)  # answered last, counted first
    assert limiter.estimate == 20


async def test_concurrent_requests_share_one_budget() -> None:
    limiter = WeightLimiter(limit=20, window=10.0, safety_margin=0.0, clock=ManualClock(1_000.0))
    tasks = [asyncio.create_task(limiter.acquire(5)) for _ in range(6)]
    done, pending = await asyncio.wait(tasks, timeout=0.05)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    assert (len(done), len(pending), limiter.estimate) == (4, 2, 20)
