"""What an audit of one dataset is given (scope, tuning) and what it hands back (outcome)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import msgspec

from petrosa_auditor.checks.freshness import Freshness
from petrosa_auditor.checks.gaps import GapList
from petrosa_auditor.findings import Findings
from petrosa_auditor.reader import TimedReader
from petrosa_core.models import DatasetId

if TYPE_CHECKING:
    from petrosa_auditor.settings import AuditorSettings

Mode = Literal["window", "full", "range"]


class Scope(msgspec.Struct, frozen=True):
    """Which records an audit reads: the last ``window`` seconds, everything, or a range."""

    mode: Mode
    window: float | None = None
    start: int | None = None
    end: int | None = None

    @classmethod
    def last(cls, seconds: float) -> Scope:
        return cls("window", window=seconds)

    @classmethod
    def full(cls) -> Scope:
        return cls("full")

    @classmethod
    def between(cls, start: int | None, end: int | None) -> Scope:
        return cls("range", start=start, end=end)

    def bounds(self, now: int) -> tuple[int | None, int | None]:
        """``[start, end)`` in epoch ms at ``now``; None leaves a side open."""
        if self.mode == "window" and self.window is not None:
            return now - int(self.window * 1000), None
        return self.start, self.end


@dataclass(frozen=True)
class AuditConfig:
    """How the checks are tuned; see ``AuditorSettings`` for what each value means."""

    page_size: int = 10_000
    price_jump_k: float = 10.0
    freshness_grace_ms: int = 60_000
    volume_tolerance: float = 1e-6
    max_findings: int = 1000

    @classmethod
    def from_settings(cls, settings: AuditorSettings) -> AuditConfig:
        return cls(
            page_size=settings.audit_page_size,
            price_jump_k=settings.audit_price_jump_k,
            freshness_grace_ms=int(settings.audit_freshness_grace * 1000),
            volume_tolerance=settings.audit_volume_tolerance,
            max_findings=settings.audit_max_findings,
        )


@dataclass(frozen=True)
class AuditContext:
    """One dataset's audit: where to read, over which range, at which instant."""

    reader: TimedReader
    dataset: DatasetId
    start: int | None
    end: int | None
    now: int
    config: AuditConfig
    # Candle intervals stored for the same symbol, for the consistency check.
    intervals: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What the checks of one dataset saw; the auditor turns it into a report."""

    checks: dict[str, Findings]
    gaps: GapList
    records: int = 0
    distinct: int = 0
    expected: int | None = None
    completeness: float = 1.0
    invalid: int = 0
    extra_copies: int = 0
    consistency: float = 1.0
    freshness: Freshness | None = None
    last_time: int | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, checks: tuple[str, ...], cap: int) -> Outcome:
        return cls({name: Findings(name, cap) for name in checks}, GapList(cap))
