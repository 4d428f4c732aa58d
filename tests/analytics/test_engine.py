"""The engine over a real store: candles in, the library's figures out, honest about gaps."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import msgspec
import numpy as np
import pytest
import pytest_asyncio

from petrosa_analytics.engine import Engine, Schedule
from petrosa_analytics.metrics import Bars, compute
from petrosa_analytics.requests import answer
from petrosa_core.contracts import AnalyticsReply, AnalyticsRequest, ErrorReply, decode_reply
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.models import Candle
from tests.analytics.engine_support import (
    MINUTE,
    candles_id,
    store_candles,
    xrp_5m,
    xrpeth_1m_with_gaps,
)

# One store for the module: the SQLite scan's reader processes start once, not per test.
# Each test stores its own symbols, so tests still see only their own data.
pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def market(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MarketStore]:
    path = tmp_path_factory.mktemp("engine") / "market.db"
    store = await open_market_store(f"sqlite+aiosqlite:///{path}")
    try:
        yield store
    finally:
        await store.close()


def symbol(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}USDT"


def engine(market: MarketStore, **windows: list[int]) -> Engine:
    return Engine(market, Schedule.of(windows), max_bars=50_000)


def bars_of(candles: Sequence[Candle], step: int) -> Bars:
    columns = {
        name: np.array([getattr(c, name) for c in candles])
        for name in ("open_time", "open", "high", "low", "close", "volume", "quote_volume",
                     "taker_buy_base_volume", "taker_buy_quote_volume", "trade_count")
    }  # fmt: skip
    return Bars.from_columns(step, **columns)


async def ask(engine: Engine, market: MarketStore, request: AnalyticsRequest) -> object:
    return decode_reply(await answer(engine, market, request.encode()), AnalyticsReply.decode)


async def test_stored_candles_give_the_library_s_own_figures(market: MarketStore) -> None:
    name = symbol("GAP")
    candles = [msgspec.structs.replace(c, symbol=name) for c in xrpeth_1m_with_gaps()]
    await store_candles(market, candles)
    run = engine(market, volatility=[30, 600])
    results = await run.compute_dataset(candles_id(name, "1m"), "r1")
    expected = {
        (r.method, r.window): r
        for w in (30, 600)
        for r in compute("volatility", bars_of(candles, MINUTE), window=w)
    }
    got = {(r.method, r.window): r for r in results if r.family == "volatility"}
    assert got.keys() == expected.keys()
    for key, result in got.items():
        assert (result.value, result.completeness, result.as_of_time) == (
            expected[key].value,
            expected[key].completeness,
            expected[key].as_of_time,
        )


async def test_a_window_with_gaps_says_so_and_one_without_says_complete(
    market: MarketStore,
) -> None:
    gaps, whole = symbol("GAP"), symbol("WHOLE")
    candles = [msgspec.structs.replace(c, symbol=gaps) for c in xrpeth_1m_with_gaps()]
    await store_candles(market, candles + xrp_5m(whole))
    run = engine(market, volatility=[600])
    gappy = [
        r for r in await run.compute_dataset(candles_id(gaps, "1m")) if r.family == "volatility"
    ]
    full = [
        r for r in await run.compute_dataset(candles_id(whole, "5m")) if r.family == "volatility"
    ]
    assert gappy and all(r.completeness < 1.0 for r in gappy)
    assert full and all(r.completeness == 1.0 for r in full)
    assert all(r.lineage.source == str(candles_id(gaps, "1m")) for r in gappy)


async def test_an_open_candle_is_not_used(market: MarketStore) -> None:
    name = symbol("OPEN")
    candles = xrp_5m(name)
    still_open = msgspec.structs.replace(candles[-1], is_closed=False, close=candles[-1].close * 3)
    await store_candles(market, [*candles[:-1], still_open])
    results = await engine(market).compute_dataset(candles_id(name, "5m"))
    assert results and {r.as_of_time for r in results} == {candles[-2].open_time}


async def test_one_candle_answers_with_a_reason_and_no_nan(market: MarketStore) -> None:
    name = symbol("ONE")
    await store_candles(market, xrp_5m(name)[:1])
    request = AnalyticsRequest(family="volatility", pairs=[name], period="5m", window=30)
    raw = await answer(engine(market), market, request.encode())
    reply = decode_reply(raw, AnalyticsReply.decode)
    assert isinstance(reply, AnalyticsReply)
    assert b"NaN" not in raw and b"Infinity" not in raw
    first = reply.results[0]
    assert (first.value, first.bars_used, bool(first.extra["reason"])) == (None, 1, True)


async def test_an_empty_dataset_is_unknown_rather_than_a_null_figure(market: MarketStore) -> None:
    request = AnalyticsRequest(family="trend", pairs=[symbol("NONE")], period="1h")
    reply = await ask(engine(market), market, request)
    assert isinstance(reply, ErrorReply) and reply.code == "unknown_dataset"
    assert reply.http_status == 404


async def test_a_request_s_result_is_stored_for_the_next_caller(market: MarketStore) -> None:
    name = symbol("ASK")
    await store_candles(market, xrp_5m(name))
    request = AnalyticsRequest(
        family="volatility", pairs=[name], period="5m", method="parkinson", window=77
    )
    reply = await ask(engine(market), market, request)
    assert isinstance(reply, AnalyticsReply)
    stored = await market.latest_analytics(
        candles_id(name, "5m"), "volatility", method="parkinson", window=77
    )
    assert stored == reply.results


async def test_correlation_across_pairs_with_missing_bars(market: MarketStore) -> None:
    """A copy of a series at twice the price has the same log returns: correlation 1 exactly,
    over the return slots both have. Each missing bar removes its own and the next return."""
    one, two = symbol("AONE"), symbol("BTWO")
    base = xrp_5m(one)
    twice = [msgspec.structs.replace(c, symbol=two, close=c.close * 2) for c in base]
    missing = {len(base) - 10, len(base) - 40, len(base) - 70}
    await store_candles(market, base + [c for i, c in enumerate(twice) if i not in missing])
    request = AnalyticsRequest(family="correlation", pairs=[two, one], period="5m", window=100)
    reply = await ask(engine(market), market, request)
    assert isinstance(reply, AnalyticsReply)
    (matrix,) = reply.results
    assert matrix.value["pairs"] == [one, two]
    assert matrix.value["matrix"][0][1] == pytest.approx(1.0, abs=1e-12)
    assert matrix.extra["observations"][0][1] == 100 - 2 * len(missing)
    assert matrix.completeness == (100 - 2 * len(missing)) / 100


async def test_rolling_correlation_of_two_pairs_is_a_series_ending_at_the_newest_bar(
    market: MarketStore,
) -> None:
    one, two, three = symbol("RONE"), symbol("RTWO"), symbol("RTHREE")
    base = xrp_5m(one)
    twice = [msgspec.structs.replace(c, symbol=two, close=c.close * 2) for c in base]
    await store_candles(market, base + twice + xrp_5m(three)[:3])
    run = engine(market)
    rolling = AnalyticsRequest(
        family="correlation", pairs=[one, two], period="5m", method="rolling_pearson", window=50
    )
    reply = await ask(run, market, rolling)
    assert isinstance(reply, AnalyticsReply)
    (series,) = reply.results
    assert series.as_of_time == base[-1].open_time
    assert len(series.value) == 52  # 2 x 50 + 2 bars read: 101 returns, 52 full windows
    assert all(point["value"] == pytest.approx(1.0, abs=1e-9) for point in series.value)
    short = msgspec.structs.replace(rolling, pairs=[one, three])
    (too_few,) = (await ask(run, market, short)).results  # type: ignore[union-attr]
    assert (too_few.value, too_few.as_of_time) == ([], base[-1].open_time)
    assert "common returns" in too_few.extra["reason"]
    three_pairs = msgspec.structs.replace(rolling, pairs=[one, two, three])
    refused = await ask(run, market, three_pairs)
    assert isinstance(refused, ErrorReply) and refused.code == "bad_pairs"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"family": "volatility", "pairs": ["XRPUSDT"], "period": "5m", "window": 1}',
         "bad_window"),
        (b'{"family": "volatility", "pairs": ["XRPUSDT"], "period": "5m", "method": "magic"}',
         "unknown_method"),
        (b'{"family": "astrology", "pairs": ["XRPUSDT"], "period": "5m"}', "unknown_family"),
        (b'{"family": "correlation", "pairs": ["XRPUSDT"], "period": "5m"}', "bad_pairs"),
        (b'{"family": "trend", "pairs": ["XRPUSDT"], "period": "7m"}', "unknown_interval"),
        (b'{"family": "trend", "pairs": ["XRP/USDT"], "period": "5m"}', "bad_symbol"),
        (b'{"family": "volatility", "pairs": ["XRPUSDT"], "period": "5m", "window": 49999}',
         "window_too_large"),
        (b"[" * 100_000, "payload_too_large"),
        (b'{"family": ' + b"[" * 4000 + b"]" * 4000 + b"}", "bad_json"),
    ],
)  # fmt: skip
async def test_a_bad_request_is_refused_with_its_reason(
    market: MarketStore, body: bytes, code: str
) -> None:
    await store_candles(market, xrp_5m("XRPUSDT")[:50])
    reply = decode_reply(await answer(engine(market), market, body), AnalyticsReply.decode)
    assert isinstance(reply, ErrorReply)
    assert (reply.code, reply.caller_fault) == (code, True)
