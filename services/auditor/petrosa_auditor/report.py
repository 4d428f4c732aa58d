"""What one audit of one dataset found, as a struct (JSON on NATS) and as readable text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from petrosa_auditor.checks.gaps import Gap
from petrosa_auditor.score import Health
from petrosa_core.market import Removal
from petrosa_core.metadata import FindingIn


class CheckResult(msgspec.Struct, frozen=True):
    """One check's findings; ``total`` exceeds ``len(findings)`` when the list was capped."""

    check: str
    findings: list[FindingIn]
    total: int


class DatasetReport(msgspec.Struct, frozen=True):
    """One audit of one dataset over ``[start, end)`` (``start`` None: from its first record)."""

    dataset: str
    mode: str
    start: int | None
    end: int
    started_at: int
    finished_at: int
    records: int
    expected: int | None
    score: float
    health: Health
    checks: list[CheckResult]
    gaps: list[Gap]
    removed: list[Removal]
    last_time: int | None
    read_seconds: float
    check_seconds: float
    counts: dict[str, int] = msgspec.field(default_factory=dict)

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.check == name), None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.to_builtins(self)
        return data


def iso(ms: int | None) -> str:
    """``2019-10-11T00:36:00Z``, with milliseconds only when there are any."""
    if ms is None:
        return "open"
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    spec = "milliseconds" if ms % 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _finding_line(finding: FindingIn) -> str:
    span = f"{iso(finding.range_start)} .. {iso(finding.range_end)}"
    details = finding.details
    if "missing" in details and details["missing"] is not None:
        note = f"{details['missing']} missing"
    elif "reasons" in details:
        note = ", ".join(sorted(details["reasons"]))
    elif "fields" in details:
        note = "differs in " + ", ".join(sorted(details["fields"]))
    elif "age_seconds" in details:
        note = f"newest record {details['age_seconds']:.0f} s old"
    else:
        note = ""
    return f"    {finding.severity:<7} {span}  {note}".rstrip()


def render(report: DatasetReport, limit: int | None = 50) -> str:
    """The report as lines a person reads: score, components, then findings per check."""
    h = report.health
    lines = [
        f"{report.dataset}  score {report.score:.2f}  (completeness {h.completeness:.3f}, "
        f"validity {h.validity:.3f}, freshness {h.freshness:.3f}, "
        f"consistency {h.consistency:.3f})",
        f"  {report.mode} audit of {iso(report.start)} .. {iso(report.end)}: "
        f"{report.records} records"
        + (f", {report.expected} expected" if report.expected is not None else ""),
        f"  store read {report.read_seconds:.3f} s, checks {report.check_seconds:.3f} s",
    ]
    for result in report.checks:
        lines.append(f"  {result.check}: {result.total or 'none'}")
        shown = result.findings if limit is None else result.findings[:limit]
        lines.extend(_finding_line(f) for f in shown)
        if result.total > len(shown):
            lines.append(f"    ... {result.total - len(shown)} more")
    for removal in report.removed:
        lines.append(f"  removed duplicates of {iso(removal.time)}: kept {removal.kept}")
    return "\n".join(lines)
