"""How ``petrosa backfill`` shows a job's progress: one redrawn line on a terminal, plain
lines anywhere else, and a word while nothing moves (a job waiting for a retry)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from petrosa_core.contracts import JobView

BAR_WIDTH = 30
# Into a file or a pipe, a line per ten points of progress keeps a log short and readable.
LINE_STEP_PERCENT = 10.0
# How often a non-terminal hears that a job is still waiting: often enough to tell a wait
# from a hang, rarely enough that an hour's retries stay a screenful.
QUIET_LINE_SECONDS = 30.0


def progress_line(job: JobView, quiet_seconds: float = 0.0) -> str:
    """Dataset, bar, percent, records, pages, weight, status; the attempt and the wait."""
    filled = int(BAR_WIDTH * job.progress / 100)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    line = (
        f"{job.dataset_id} [{bar}] {job.progress:6.2f}%  {job.records_written} records"
        f"  {job.pages} pages  weight {job.weight_used}  {job.status}"
    )
    if job.attempts > 1:
        line += f"  attempt {job.attempts}"
    if quiet_seconds >= 1:
        line += f"  no progress for {quiet_seconds:.0f} s"
    return line


class Progress:
    """Draws the jobs a command follows on ``out``; ``is_tty`` is looked up when not given."""

    def __init__(
        self,
        out: TextIO,
        *,
        is_tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.is_tty = out.isatty() if is_tty is None else is_tty
        self.clock = clock
        self._last: dict[str, JobView] = {}
        self._moved: dict[str, float] = {}
        self._told: dict[str, float] = {}
        self._width = 0

    def show(self, job: JobView) -> None:
        """Draw ``job``; a state seen before counts as no news."""
        now = self.clock()
        before = self._last.get(job.job_id)
        if before is not None and _same_state(before, job):
            self.quiet(job)
            return
        self._last[job.job_id] = job
        self._moved[job.job_id] = now
        if self.is_tty or before is None or _worth_a_line(before, job):
            self._write(progress_line(job), now, job.job_id)

    def quiet(self, job: JobView) -> None:
        """Nothing new about ``job``: say for how long, on a terminal at once, else rarely."""
        now = self.clock()
        self._last.setdefault(job.job_id, job)
        waited = now - self._moved.setdefault(job.job_id, now)
        told = self._told.get(job.job_id)
        if self.is_tty or told is None or now - told >= QUIET_LINE_SECONDS:
            self._write(progress_line(self._last[job.job_id], waited), now, job.job_id)

    def end(self) -> None:
        """Finish the redrawn line, if any."""
        if self.is_tty and self._width:
            self.out.write("\n")
            self.out.flush()
        self._width = 0

    def _write(self, line: str, now: float, job_id: str) -> None:
        self._told[job_id] = now
        if self.is_tty:
            # Pad over what a longer previous frame left on the line.
            self.out.write(f"\r{line.ljust(self._width)}")
            self._width = max(self._width, len(line))
        else:
            self.out.write(line + "\n")
        self.out.flush()


def _same_state(a: JobView, b: JobView) -> bool:
    return (a.status, a.pages, a.records_written, a.attempts) == (
        b.status,
        b.pages,
        b.records_written,
        b.attempts,
    )


def _worth_a_line(before: JobView, now: JobView) -> bool:
    """Into a non-terminal: a new status or attempt, or another step of progress."""
    step = int(now.progress // LINE_STEP_PERCENT) != int(before.progress // LINE_STEP_PERCENT)
    return step or now.status != before.status or now.attempts != before.attempts
