"""Invalid values are errors named by the rule they break; price jumps are only warnings."""

from __future__ import annotations

from pathlib import Path

import msgspec

from petrosa_auditor.context import Scope
from petrosa_auditor.findings import ERROR, GAPS, PRICE_JUMPS, VALIDITY, WARNING
from petrosa_core.models import BookTicker, Candle, DatasetId, DatasetKind
from tests.auditor._support import (
    MIN,
    auditor,
    candles_id,
    csv_candles,
    findings,
    opened,
    ranges,
    recorded_records,
    write,
)

STEP = 5 * MIN


def broken(c: Candle, rule: str) -> Candle:
    """``c`` changed so that it breaks exactly ``rule``."""
    low_body, high_body = min(c.open, c.close), max(c.open, c.close)
    changes: dict[str, dict[str, object]] = {
        "low_above_open_or_close": {"low": high_body + 0.001, "high": high_body + 0.002},
        "high_below_open_or_close": {"high": high_body - 0.0001, "low": low_body - 0.001},
        "negative_volume": {"volume": -1.0, "taker_buy_base_volume": -2.0},
        "taker_volume_above_volume": {"taker_buy_base_volume": c.volume * 2},
        "price_not_positive": {"low": -1.0},
        "wrong_close_time": {"close_time": c.open_time + STEP},
        "open_time_off_grid": {"open_time": c.open_time + 1000, "close_time": c.close_time + 1000},
    }
    return msgspec.structs.replace(c, **changes[rule])


RULES = {
    100: "low_above_open_or_close",
    200: "high_below_open_or_close",
    300: "negative_volume",
    400: "taker_volume_above_volume",
    500: "price_not_positive",
    600: "wrong_close_time",
    700: "open_time_off_grid",
}


async def test_each_invalid_candle_is_an_error_named_by_its_rule(
    sqlite_url: str, shared_data: Path
) -> None:
    real = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    t = [c.open_time for c in real]
    candles = [broken(c, RULES[i]) if i in RULES else c for i, c in enumerate(real)]
    dataset = candles_id("XRPUSDT", "5m")
    scope = Scope.between(t[0], t[-1] + STEP)

    async with opened(sqlite_url) as store:
        await write(store, real)
        intact = await auditor(store).audit(dataset, scope)
        await store.delete_range(dataset)
        await write(store, candles)
        report = await auditor(store).audit(dataset, scope)

    assert findings(intact, VALIDITY) == []
    seen = [
        (f.severity, f.range_start, f.range_end, f.details["reasons"])
        for f in findings(report, VALIDITY)
    ]
    off_grid = t[700] + 1000
    assert seen == [
        (ERROR, off_grid if i == 700 else t[i], off_grid if i == 700 else t[i], {rule: 1})
        for i, rule in RULES.items()
    ]
    # The candle moved off the grid leaves its slot empty.
    assert ranges(report, GAPS) == [(t[700], t[700])]
    assert report.health.validity == (len(real) - len(RULES)) / len(real)


async def test_a_price_spike_is_a_warning_over_the_candles_it_touches(
    sqlite_url: str, shared_data: Path
) -> None:
    real = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    t = [c.open_time for c in real]
    spiked = msgspec.structs.replace(real[1000], close=real[1000].close * 1.5)
    spiked = msgspec.structs.replace(spiked, high=spiked.close)
    dataset = candles_id("XRPUSDT", "5m")
    scope = Scope.between(t[0], t[-1] + STEP)

    async with opened(sqlite_url) as store:
        await write(store, real)
        intact = await auditor(store).audit(dataset, scope)
        await store.delete_range(dataset, t[1000], t[1000] + 1)
        await write(store, [spiked])
        report = await auditor(store).audit(dataset, scope)
        lenient = await auditor(store, price_jump_k=1e6).audit(dataset, scope)

    # Real markets jump too: the recorded week has moves beyond 10 robust sigmas.
    real_jumps = ranges(intact, PRICE_JUMPS)
    assert len(real_jumps) == 3
    assert ranges(report, PRICE_JUMPS) == sorted([*real_jumps, (t[1000], t[1001])])
    spike = next(f for f in findings(report, PRICE_JUMPS) if f.range_start == t[1000])
    assert (spike.severity, spike.details["count"]) == (WARNING, 2)
    assert findings(report, VALIDITY) == []
    assert findings(lenient, PRICE_JUMPS) == []


async def test_a_crossed_book_ticker_is_invalid(sqlite_url: str, shared_data: Path) -> None:
    tickers = [
        r
        for r in recorded_records(shared_data)
        if isinstance(r, BookTicker) and r.symbol == "SUSHIUSDT"
    ]
    bad = tickers[10]
    tickers[10] = msgspec.structs.replace(bad, bid_price=bad.ask_price * 1.01)
    dataset = DatasetId.of(DatasetKind.BOOK_TICKERS, "SUSHIUSDT")

    async with opened(sqlite_url) as store:
        await write(store, tickers)
        report = await auditor(store).audit(dataset, Scope.full())

    assert [
        (f.severity, f.range_start, f.details["reasons"]) for f in findings(report, VALIDITY)
    ] == [(ERROR, bad.event_time, {"crossed_book": 1})]


async def test_datasets_stored_before_symbols_were_checked_are_left_alone(
    sqlite_url: str,
) -> None:
    good = BookTicker("BTCUSDT", 1, 1_700_000_000_000, 1_700_000_000_000, 1.0, 1.0, 1.1, 1.0)
    legacy = [msgspec.structs.replace(good, symbol=s) for s in ("btcusdt", "A" * 300, "../x")]
    async with opened(sqlite_url) as store:
        await write(store, [good, *legacy])
        assert await auditor(store).datasets() == [DatasetId.parse("book_tickers:BTCUSDT")]
