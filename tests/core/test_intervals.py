"""Kline grid arithmetic: every interval, Monday weeks, calendar months, counts vs iteration."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from petrosa_core.errors import ValidationError
from petrosa_core.intervals import (
    INTERVALS,
    align,
    check_interval,
    close_time,
    count_open_times,
    interval_ms,
    is_aligned,
    next_open,
    open_times,
)


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Epoch ms of a UTC wall-clock time, computed without the code under test."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1000


# 2021-11-17T13:47:23.456Z, a Wednesday.
T = 1637156843456

# interval -> (open time of the candle containing T, open time of the next one)
EXPECTED = {
    "1m": (1637156820000, 1637156880000),  # 13:47, 13:48
    "3m": (1637156700000, 1637156880000),  # 13:45, 13:48
    "5m": (1637156700000, 1637157000000),  # 13:45, 13:50
    "15m": (1637156700000, 1637157600000),  # 13:45, 14:00
    "30m": (1637155800000, 1637157600000),  # 13:30, 14:00
    "1h": (1637154000000, 1637157600000),  # 13:00, 14:00
    "2h": (1637150400000, 1637157600000),  # 12:00, 14:00
    "4h": (1637150400000, 1637164800000),  # 12:00, 16:00
    "6h": (1637150400000, 1637172000000),  # 12:00, 18:00
    "8h": (1637136000000, 1637164800000),  # 08:00, 16:00
    "12h": (1637150400000, 1637193600000),  # 12:00, 11-18 00:00
    "1d": (1637107200000, 1637193600000),  # 11-17, 11-18
    "3d": (1637107200000, 1637366400000),  # 11-17 (day 18948 = 3 * 6316), 11-20
    "1w": (1636934400000, 1637539200000),  # Monday 11-15, Monday 11-22
    "1M": (1635724800000, 1638316800000),  # 11-01, 12-01
}


def test_expected_table_covers_every_interval() -> None:
    assert tuple(EXPECTED) == INTERVALS
    assert T == ms(2021, 11, 17, 13, 47, 23) + 456


@pytest.mark.parametrize("interval", list(EXPECTED))
def test_align_next_open_and_close_time(interval: str) -> None:
    opened, following = EXPECTED[interval]
    assert align(T, interval) == opened
    assert align(opened, interval) == opened
    assert align(following - 1, interval) == opened
    assert next_open(opened, interval) == following
    assert next_open(T, interval) == following
    assert close_time(opened, interval) == following - 1
    assert is_aligned(opened, interval)
    assert not is_aligned(opened + 1, interval)


@pytest.mark.parametrize("interval", [i for i in INTERVALS if i != "1M"])
def test_fixed_interval_lengths(interval: str) -> None:
    opened, following = EXPECTED[interval]
    assert interval_ms(interval) == following - opened


def test_week_opens_on_monday_midnight_utc() -> None:
    monday = ms(2021, 11, 15)
    assert monday == 1636934400000
    assert align(ms(2021, 11, 21, 23, 59, 59) + 999, "1w") == monday
    assert align(monday - 1, "1w") == ms(2021, 11, 8)
    assert next_open(monday, "1w") == ms(2021, 11, 22)
    assert close_time(monday, "1w") == ms(2021, 11, 22) - 1
    assert align(0, "1w") == ms(1969, 12, 29)  # the epoch was a Thursday


def test_month_over_a_leap_february() -> None:
    feb = ms(2024, 2, 1)
    assert align(ms(2024, 2, 29, 12), "1M") == feb
    assert next_open(feb, "1M") == ms(2024, 3, 1)
    assert close_time(feb, "1M") == ms(2024, 2, 29, 23, 59, 59) + 999
    assert next_open(ms(2023, 2, 1), "1M") - ms(2023, 2, 1) == 28 * 86_400_000
    assert next_open(feb, "1M") - feb == 29 * 86_400_000


def test_month_over_a_year_boundary() -> None:
    last_ms_of_2021 = ms(2022, 1, 1) - 1
    assert align(last_ms_of_2021, "1M") == ms(2021, 12, 1)
    assert next_open(ms(2021, 12, 1), "1M") == ms(2022, 1, 1)
    assert close_time(ms(2021, 12, 1), "1M") == last_ms_of_2021
    assert align(ms(2022, 1, 1), "1M") == ms(2022, 1, 1)
    assert list(open_times(ms(2021, 11, 15), ms(2022, 2, 1), "1M")) == [
        ms(2021, 12, 1),
        ms(2022, 1, 1),
    ]
    assert count_open_times(ms(2021, 11, 15), ms(2022, 2, 1), "1M") == 2


def test_open_times_is_half_open_and_starts_on_the_grid() -> None:
    start = ms(2021, 11, 17, 13, 0)
    assert list(open_times(start, start + 15 * 60_000, "5m")) == [
        start,
        start + 300_000,
        start + 600_000,
    ]
    assert list(open_times(start + 1, start + 600_001, "5m")) == [start + 300_000, start + 600_000]
    assert list(open_times(start, start, "5m")) == []
    assert count_open_times(start, start, "5m") == 0
    assert count_open_times(start + 1, start, "5m") == 0


def test_recorded_contiguous_candles_sit_on_the_grid(shared_data: Path) -> None:
    for name, interval, rows in [
        ("xrpusdt_perp_5m_klines.csv", "5m", 1999),
        ("xrpusdt_perp_1h_klines.csv", "1h", 100),
    ]:
        with (shared_data / name).open() as handle:
            opens = [int(row["open_time_ms"]) for row in csv.DictReader(handle)]
        assert len(opens) == rows
        assert list(open_times(opens[0], opens[-1] + 1, interval)) == opens
        assert count_open_times(opens[0], opens[-1] + 1, interval) == rows


def test_check_interval_accepts_known_and_rejects_unknown() -> None:
    for interval in INTERVALS:
        assert check_interval(interval) == interval
    for bad in ["7m", "1H", "1mo", "", "1W"]:
        with pytest.raises(ValidationError) as caught:
            check_interval(bad)
        assert caught.value.reason == "unknown_interval"


def test_interval_ms_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        interval_ms("1M")
    assert caught.value.reason == "variable_interval"
    with pytest.raises(ValidationError) as caught:
        interval_ms("7m")
    assert caught.value.reason == "unknown_interval"
    with pytest.raises(ValidationError):
        align(T, "7m")


def _random_bound(rng: random.Random, base: int, interval: str) -> int:
    """A time near ``base``: sometimes exactly on the grid, sometimes a ms either side."""
    t = base + rng.randrange(-3 * 86_400_000, 3 * 86_400_000)
    return align(t, interval) + rng.choice([0, 0, -1, 1, rng.randrange(1, 10**9)])


@pytest.mark.parametrize("interval", INTERVALS)
def test_count_matches_iteration_over_random_ranges(interval: str) -> None:
    rng = random.Random(f"count-{interval}")
    span = 40 * (next_open(T, interval) - align(T, interval))
    for _ in range(150):
        start = _random_bound(
            rng, ms(2019, 1, 1) + rng.randrange(0, 6 * 365 * 86_400_000), interval
        )
        end = start + rng.randrange(-span // 10, span)
        expected = list(open_times(start, end, interval))
        assert count_open_times(start, end, interval) == len(expected)
        assert all(is_aligned(t, interval) and start <= t < end for t in expected)


@pytest.mark.parametrize("interval", INTERVALS)
def test_align_brackets_random_times(interval: str) -> None:
    rng = random.Random(f"align-{interval}")
    for _ in range(300):
        t = rng.randrange(ms(2017, 1, 1), ms(2030, 1, 1))
        opened = align(t, interval)
        assert opened <= t < next_open(opened, interval)
        assert align(opened, interval) == opened
        when = datetime.fromtimestamp(opened // 1000, UTC)
        if interval == "1w":
            assert (when.weekday(), when.hour, when.minute) == (0, 0, 0)
        if interval == "1M":
            assert (when.day, when.hour, when.minute) == (1, 0, 0)


def test_an_unknown_interval_is_echoed_cut_short() -> None:
    with pytest.raises(ValidationError) as caught:
        check_interval("9" * 5000)
    assert caught.value.detail.startswith(f"'{'9' * 37}...' is not one of")
    assert len(caught.value.detail) < 200
