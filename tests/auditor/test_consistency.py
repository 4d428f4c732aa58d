"""Hourly candles stored next to 5-minute ones must equal their aggregate."""

from __future__ import annotations

from pathlib import Path

import msgspec

from petrosa_auditor.context import Scope
from petrosa_auditor.findings import CONSISTENCY, ERROR
from petrosa_core.models import Candle
from tests.auditor._support import MIN, auditor, candles_id, csv_candles, findings, opened, write

FIVE, HOUR = 5 * MIN, 60 * MIN


def hourly(fives: list[Candle]) -> list[Candle]:
    """The 1h candles the 5m candles imply, for every hour they cover whole."""
    by_hour: dict[int, list[Candle]] = {}
    for c in fives:
        by_hour.setdefault(c.open_time - c.open_time % HOUR, []).append(c)
    return [
        Candle(
            symbol=group[0].symbol,
            interval="1h",
            open_time=start,
            close_time=start + HOUR - 1,
            open=group[0].open,
            high=max(c.high for c in group),
            low=min(c.low for c in group),
            close=group[-1].close,
            volume=sum(c.volume for c in group),
            quote_volume=sum(c.quote_volume for c in group),
            trade_count=sum(c.trade_count for c in group),
            taker_buy_base_volume=sum(c.taker_buy_base_volume for c in group),
            taker_buy_quote_volume=sum(c.taker_buy_quote_volume for c in group),
            is_closed=True,
        )
        for start, group in sorted(by_hour.items())
        if len(group) == 12
    ]


async def test_an_hour_that_disagrees_with_its_minutes_is_flagged(
    sqlite_url: str, shared_data: Path
) -> None:
    fives = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", FIVE)
    hours = hourly(fives)
    wrong_high, wrong_volume = hours[10], hours[20]
    hours[10] = msgspec.structs.replace(wrong_high, high=wrong_high.high + 0.01)
    hours[20] = msgspec.structs.replace(wrong_volume, volume=wrong_volume.volume * 1.001)
    scope = Scope.between(hours[0].open_time, hours[-1].open_time + HOUR)

    async with opened(sqlite_url) as store:
        await write(store, fives + hours)
        report = await auditor(store).audit(candles_id("XRPUSDT", "1h"), scope)
        fine = await auditor(store).audit(candles_id("XRPUSDT", "5m"), scope)

    [high, volume] = findings(report, CONSISTENCY)
    assert (high.severity, high.range_start, high.range_end) == (
        ERROR,
        wrong_high.open_time,
        wrong_high.open_time,
    )
    assert high.details == {
        "source": "candles:XRPUSDT:5m",
        "fields": {"high": {"stored": wrong_high.high + 0.01, "aggregated": wrong_high.high}},
    }
    assert volume.range_start == wrong_volume.open_time
    assert list(volume.details["fields"]) == ["volume"]
    assert report.counts["consistency_compared"] == len(hours)
    assert report.health.consistency == (len(hours) - 2) / len(hours)
    assert findings(fine, CONSISTENCY) == []


async def test_the_recorded_hourly_file_is_not_the_aggregate_of_the_5m_file(
    sqlite_url: str, shared_data: Path
) -> None:
    fives = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", FIVE)
    hours = csv_candles(shared_data / "xrpusdt_perp_1h_klines.csv", "XRPUSDT", "1h", HOUR)
    scope = Scope.between(hours[0].open_time, hours[-1].open_time + HOUR)

    async with opened(sqlite_url) as store:
        await write(store, fives + hours)
        report = await auditor(store).audit(candles_id("XRPUSDT", "1h"), scope)

    # Both files are real, but their volumes differ tenfold: they are not one market.
    assert [f.range_start for f in findings(report, CONSISTENCY)] == [h.open_time for h in hours]
    assert all("volume" in f.details["fields"] for f in findings(report, CONSISTENCY))
