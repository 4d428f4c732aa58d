"""The auditor package's public names, pinned."""

from __future__ import annotations

import petrosa_auditor


def test_the_public_surface() -> None:
    assert sorted(petrosa_auditor.__all__) == [
        "AuditConfig",
        "Auditor",
        "CheckResult",
        "DatasetReport",
        "DuplicateScanner",
        "Health",
        "Removal",
        "Scope",
        "WEIGHTS",
    ]
    assert petrosa_auditor.WEIGHTS == {
        "completeness": 0.4,
        "validity": 0.3,
        "freshness": 0.2,
        "consistency": 0.1,
    }
