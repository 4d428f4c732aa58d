"""Gaps in real recorded data: the exchange's own missing minutes, and ranges we delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from petrosa_auditor.context import Scope
from petrosa_auditor.findings import ERROR, GAPS
from petrosa_core.models import DatasetId, DatasetKind, DepthUpdate, Trade
from tests.auditor._support import (
    MIN,
    auditor,
    candles_id,
    csv_candles,
    csv_rows,
    findings,
    funding_rates,
    opened,
    ranges,
    recorded_records,
    write,
)

FIVE_MIN = 5 * MIN
EIGHT_HOURS = 8 * 60 * MIN


@pytest.fixture(params=["sqlite", "mysql", "mongo"])
def market_url(request: pytest.FixtureRequest) -> str:
    fixture = {"sqlite": "sqlite_url", "mysql": "mysql_url", "mongo": "mongo_url"}[request.param]
    url: str = request.getfixturevalue(fixture)
    return url


async def test_the_exchanges_missing_minutes_are_reported_exactly(
    market_url: str, shared_data: Path
) -> None:
    path = shared_data / "xrpeth_spot_1m_klines_with_gaps.csv"
    opens = [int(row[0]) for row in csv_rows(path)]
    expected = [(a + MIN, b - MIN) for a, b in zip(opens, opens[1:], strict=False) if b - a > MIN]
    dataset = candles_id("XRPETH", "1m")

    async with opened(market_url) as store:
        await write(store, csv_candles(path, "XRPETH", "1m", MIN))
        report = await auditor(store).audit(dataset, Scope.between(opens[0], opens[-1] + MIN))

    assert ranges(report, GAPS) == expected
    assert {f.severity for f in findings(report, GAPS)} == {ERROR}
    assert sum(f.details["missing"] for f in findings(report, GAPS)) == 1091
    assert (report.records, report.expected) == (2469, 2469 + 1091)
    assert report.health.completeness == 2469 / 3560


async def test_deleted_ranges_are_found_whole_even_from_inside_a_window(
    sqlite_url: str, shared_data: Path
) -> None:
    candles = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", FIVE_MIN)
    t = [c.open_time for c in candles]
    dataset = candles_id("XRPUSDT", "5m")
    end = t[-1] + FIVE_MIN

    async with opened(sqlite_url) as store:
        await write(store, candles)
        for start, stop in ((t[100], t[105]), (t[500], t[501]), (t[-3], end)):
            await store.delete_range(dataset, start, stop)
        whole = await auditor(store).audit(dataset, Scope.between(t[0], end))
        inside = await auditor(store).audit(dataset, Scope.between(t[102], end))

    expected = [(t[100], t[104]), (t[500], t[500]), (t[-3], t[-1])]
    assert ranges(whole, GAPS) == expected
    assert [f.details["missing"] for f in findings(whole, GAPS)] == [5, 1, 3]
    assert ranges(inside, GAPS) == expected
    assert [(g.fill_start, g.fill_end) for g in whole.gaps] == [
        (t[100], t[105]),
        (t[500], t[501]),
        (t[-3], end),
    ]


async def test_an_aggtrade_id_gap_is_found_between_its_neighbours(
    sqlite_url: str, shared_data: Path
) -> None:
    trades = sorted(
        (
            r
            for r in recorded_records(shared_data)
            if isinstance(r, Trade) and r.symbol == "SUSHIUSDT"
        ),
        key=lambda tr: tr.trade_id,
    )
    victim = trades[20]
    gone = [tr.trade_id for tr in trades if tr.trade_time == victim.trade_time]
    before = next(tr for tr in trades if tr.trade_id == min(gone) - 1)
    after = next(tr for tr in trades if tr.trade_id == max(gone) + 1)
    dataset = DatasetId.of(DatasetKind.TRADES, "SUSHIUSDT")

    async with opened(sqlite_url) as store:
        await write(store, trades)
        intact = await auditor(store).audit(dataset, Scope.full())
        await store.delete_range(dataset, victim.trade_time, victim.trade_time + 1)
        report = await auditor(store).audit(dataset, Scope.full())

    assert findings(intact, GAPS) == []
    [gap] = findings(report, GAPS)
    assert (gap.severity, gap.range_start, gap.range_end) == (
        ERROR,
        before.trade_time,
        after.trade_time,
    )
    assert (gap.details["first_missing_id"], gap.details["last_missing_id"]) == (
        min(gone),
        max(gone),
    )
    assert gap.details["missing"] == len(gone)


async def test_a_broken_depth_chain_names_the_ids_that_do_not_meet(
    sqlite_url: str, shared_data: Path
) -> None:
    updates = sorted(
        (
            r
            for r in recorded_records(shared_data)
            if isinstance(r, DepthUpdate) and r.symbol == "SUSHIUSDT"
        ),
        key=lambda u: (u.event_time, u.final_update_id),
    )
    before, victim, after = updates[99], updates[100], updates[101]
    assert victim.event_time not in (before.event_time, after.event_time)
    dataset = DatasetId.of(DatasetKind.DEPTH, "SUSHIUSDT")

    async with opened(sqlite_url) as store:
        await write(store, updates)
        intact = await auditor(store).audit(dataset, Scope.full())
        await store.delete_range(dataset, victim.event_time, victim.event_time + 1)
        report = await auditor(store).audit(dataset, Scope.full())

    assert findings(intact, GAPS) == []
    [gap] = findings(report, GAPS)
    assert (gap.range_start, gap.range_end) == (before.event_time, after.event_time)
    assert (gap.details["previous_u"], gap.details["pu"]) == (
        before.final_update_id,
        after.prev_final_update_id,
    )


async def test_a_missing_funding_event_is_found_despite_the_millisecond_jitter(
    sqlite_url: str, shared_data: Path
) -> None:
    rates = funding_rates(shared_data / "xrpusdt_perp_funding_rates.csv")
    dataset = DatasetId.of(DatasetKind.FUNDING_RATES, "XRPUSDT")
    before, victim, after = rates[39], rates[40], rates[41]

    async with opened(sqlite_url) as store:
        await write(store, rates)
        intact = await auditor(store).audit(dataset, Scope.full())
        await store.delete_range(dataset, victim.funding_time, victim.funding_time + 1)
        report = await auditor(store).audit(dataset, Scope.full())

    assert findings(intact, GAPS) == []
    [gap] = findings(report, GAPS)
    assert (gap.range_start, gap.range_end) == (
        before.funding_time + EIGHT_HOURS,
        after.funding_time - EIGHT_HOURS,
    )
    assert (gap.details["missing"], gap.details["cadence_ms"]) == (1, EIGHT_HOURS)
    assert report.health.completeness == 90 / 91
