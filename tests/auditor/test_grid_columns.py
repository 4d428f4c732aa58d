"""The candle grid scan on numpy columns against a plain loop over the same open times.

The columnar scan judges in Python only the times that do not follow their predecessor
by one step; whatever the mix of gaps, repeats, off-grid and out-of-order times, and
however the times are cut into tables, it must find what a one-by-one scan finds.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from petrosa_auditor.checks.gaps import GapList, GridGaps
from petrosa_auditor.findings import DUPLICATES, WARNING, Findings, Runs
from petrosa_core.intervals import align, count_open_times, next_open

STEP = 60_000
T0 = 1_700_000_040_000  # on the 1m grid


def _reference(times: list[int], previous: int | None, limit: int) -> dict[str, object]:
    """The scan written from its definition, one open time at a time."""
    gaps: list[tuple[int, int, int]] = []
    repeats: list[int] = []
    last, skipped, seen, first = previous, 0, 0, None
    for t in [t for t in times if t <= limit]:
        seen += 1
        if last is not None and t - last == STEP:
            last = t
            continue
        if align(t, "1m") != t or (last is not None and t < last):
            skipped += 1
            continue
        if last is None:
            first = t
        elif t == last:
            repeats.append(seen - 1)
            skipped += 1
            continue
        else:
            gap_first, gap_last = next_open(last, "1m"), align(t - 1, "1m")
            if gap_last >= gap_first:
                gaps.append((gap_first, gap_last, count_open_times(gap_first, gap_last + 1, "1m")))
        last = t
    if last is not None and last < limit:
        gap_first = next_open(last, "1m")
        gaps.append((gap_first, limit, count_open_times(gap_first, limit + 1, "1m")))
    return {"gaps": gaps, "repeats": len(repeats), "present": seen - skipped, "first": first}


def _columnar(
    times: list[int], previous: int | None, limit: int, cuts: list[int]
) -> dict[str, object]:
    gaps = GapList(10_000)
    findings = Findings(DUPLICATES, 10_000)
    repeats = Runs(findings, WARNING)
    grid = GridGaps("1m", previous, T0 if previous is not None else None, limit, gaps, repeats)
    bounds = sorted({0, len(times), *[c % (len(times) + 1) for c in cuts]})
    for low, high in zip(bounds, bounds[1:], strict=False):
        grid.feed(np.array(times[low:high], dtype=np.int64))
    grid.finish()
    return {
        "gaps": [(g.first, g.last, g.missing) for g in gaps.items],
        "repeats": repeats.flagged,
        "present": grid.present,
        "first": grid.first if previous is None else None,
    }


# Steps between consecutive open times: mostly one interval, sometimes a gap, a repeat,
# an off-grid time or a step back.
_moves = st.lists(
    st.sampled_from([STEP] * 12 + [0, 2 * STEP, 7 * STEP, 1_000, -STEP, -3 * STEP, STEP + 5]),
    min_size=0,
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(
    moves=_moves,
    has_previous=st.booleans(),
    cuts=st.lists(st.integers(0, 400), max_size=6),
    limit_back=st.integers(0, 30),
)
def test_columnar_grid_scan_finds_what_a_loop_finds(
    moves: list[int], has_previous: bool, cuts: list[int], limit_back: int
) -> None:
    times, t = [], T0
    for move in moves:
        t += move
        times.append(t)
    times.sort()  # the store returns open times in order; repeats and off-grid stay
    previous = T0 - STEP if has_previous else None
    limit = align(max(times, default=T0) - limit_back * STEP, "1m")
    expected = _reference(times, previous, limit)
    got = _columnar(times, previous, limit, cuts)
    assert got["gaps"] == expected["gaps"]
    assert got["repeats"] == expected["repeats"]
    assert got["present"] == expected["present"]
    if previous is None:
        assert got["first"] == expected["first"]


def test_a_million_regular_times_with_a_few_holes() -> None:
    times = T0 + STEP * np.arange(1_000_000, dtype=np.int64)
    holes = np.array([10, 11, 500_000, 999_998])
    kept = np.delete(times, holes)
    gaps = GapList(100)
    grid = GridGaps(
        "1m", None, None, int(times[-1]), gaps, Runs(Findings(DUPLICATES, 100), WARNING)
    )
    for part in np.array_split(kept, 7):
        grid.feed(part)
    assert grid.finish() == 1_000_000
    assert [(g.first, g.missing) for g in gaps.items] == [
        (int(times[10]), 2),
        (int(times[500_000]), 1),
        (int(times[999_998]), 1),
    ]
    assert grid.present == 1_000_000 - 4
