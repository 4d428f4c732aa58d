"""The suite's one clock and one time reader: what a caller may send as a time, and what not."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from petrosa_core.errors import ValidationError
from petrosa_core.models import MAX_TIME_MS
from petrosa_core.times import now_ms, parse_time, to_datetime, to_ms, to_naive_utc

OUTSIDE = "is outside 1970-01-01 .. 9999-12-31 (UTC)"


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("1636934400000", 1_636_934_400_000),
        (" 1636934400000 ", 1_636_934_400_000),
        (1_636_934_400_000, 1_636_934_400_000),
        ("2021-11-15", 1_636_934_400_000),
        ("2021-11-15T00:00:00Z", 1_636_934_400_000),
        ("2021-11-15t00:00:00z", 1_636_934_400_000),
        ("2021-11-15T01:00:00.123+01:00", 1_636_934_400_123),
        ("2021-11-15T00:00:00.5", 1_636_934_400_500),
        ("0", 0),
        (0, 0),
        ("9999-12-31T23:59:59.999Z", MAX_TIME_MS),
        (MAX_TIME_MS, MAX_TIME_MS),
    ],
)
def test_a_time_is_epoch_ms_or_iso_8601_in_utc(value: object, ms: int) -> None:
    assert parse_time(value, "start") == ms


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "start true is neither epoch milliseconds nor ISO-8601"),
        (False, "start false is neither epoch milliseconds nor ISO-8601"),
        (None, "start null is neither epoch milliseconds nor ISO-8601"),
        (1.0, "start 1.0 is neither epoch milliseconds nor ISO-8601"),
        ([0], "start [0] is neither epoch milliseconds nor ISO-8601"),
        ({"ms": 0}, 'start {"ms":0} is neither epoch milliseconds nor ISO-8601'),
        ("soon", "start 'soon' is neither epoch milliseconds nor ISO-8601"),
        ("1e5", "start '1e5' is neither epoch milliseconds nor ISO-8601"),
        ("１２", "start '１２' is neither epoch milliseconds nor ISO-8601"),
        ("١٢", "start '١٢' is neither epoch milliseconds nor ISO-8601"),
        ("-5", "start '-5' is neither epoch milliseconds nor ISO-8601"),
        (-1, f"start -1 {OUTSIDE}"),
        (MAX_TIME_MS + 1, f"start {MAX_TIME_MS + 1} {OUTSIDE}"),
        (10**20, f"start {10**20} {OUTSIDE}"),
        (2**70, f"start {2**70} {OUTSIDE}"),
        ("1969-12-31T23:59:59Z", f"start '1969-12-31T23:59:59Z' {OUTSIDE}"),
        ("9" * 5000, f"start '{'9' * 40}...' {OUTSIDE}"),
    ],
)
def test_anything_else_is_a_bad_time_that_repeats_little_of_the_value(
    value: object, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_time(value, "start")

    assert (refused.value.reason, refused.value.detail) == ("bad_time", message)


def test_a_naive_time_is_utc_and_an_aware_one_keeps_its_offset() -> None:
    naive = datetime(2021, 11, 15, 1, 0, tzinfo=UTC).replace(tzinfo=None)
    aware = datetime(2021, 11, 15, 1, 0, tzinfo=timezone(timedelta(hours=1)))

    assert (to_ms(naive), to_ms(aware)) == (1_636_938_000_000, 1_636_934_400_000)


@pytest.mark.parametrize("ms", [0, 1, 1_636_934_400_123, MAX_TIME_MS])
def test_datetimes_round_trip_to_the_millisecond(ms: int) -> None:
    assert to_ms(to_datetime(ms)) == to_ms(to_naive_utc(ms)) == ms
    assert to_datetime(ms).tzinfo is UTC and to_naive_utc(ms).tzinfo is None


def test_the_clock_reads_utc_epoch_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    now = now_ms()

    assert before <= now <= time.time_ns() // 1_000_000
