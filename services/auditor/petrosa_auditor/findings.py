"""Check names, severities, and the capped list each check fills during one audit."""

from __future__ import annotations

from typing import Any

from petrosa_core.metadata import FindingIn

GAPS = "gaps"
DUPLICATES = "duplicates"
VALIDITY = "validity"
PRICE_JUMPS = "price_jumps"
FRESHNESS = "freshness"
CONSISTENCY = "consistency"

ERROR = "error"
WARNING = "warning"


class Findings:
    """What one check saw, keeping the first ``cap`` findings and counting the rest."""

    def __init__(self, check: str, cap: int) -> None:
        self.check = check
        self.cap = cap
        self.items: list[FindingIn] = []
        self.total = 0

    def add(self, finding: FindingIn) -> None:
        self.total += 1
        if len(self.items) < self.cap:
            self.items.append(finding)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.items)


class Runs:
    """Merges flagged records that follow each other (by stream number) into one finding.

    A run's finding spans its first to last record's time, with its count and reasons.
    """

    def __init__(self, findings: Findings, severity: str) -> None:
        self.findings = findings
        self.severity = severity
        self.flagged = 0
        self._start: int | None = None
        self._position = -2
        self._last = 0
        self._count = 0
        self._reasons: dict[str, int] = {}
        self._extra: dict[str, Any] = {}

    def flag(self, position: int, time: int, reasons: list[str], **extra: Any) -> None:
        """Record the flagged record number ``position`` (never decreasing between calls)."""
        if position - self._position > 1:
            self.close()
        self.flagged += 1
        if self._start is None:
            self._start, self._extra = time, extra
        self._position, self._last = position, time
        self._count += 1
        for reason in reasons:
            self._reasons[reason] = self._reasons.get(reason, 0) + 1

    def close(self) -> None:
        """End the current run, if any, and turn it into a finding."""
        if self._start is None:
            return
        details: dict[str, Any] = {"count": self._count, "reasons": self._reasons}
        if self._count == 1:
            details.update(self._extra)
        self.findings.add(FindingIn(self.severity, self._start, self._last, details))
        self._start, self._count, self._reasons, self._extra = None, 0, {}, {}
