"""The auditor: integrity checks, health scores and the automatic repair loop."""

from petrosa_auditor.audit import Auditor
from petrosa_auditor.context import AuditConfig, Scope
from petrosa_auditor.report import CheckResult, DatasetReport
from petrosa_auditor.score import WEIGHTS, Health
from petrosa_core.market import DuplicateScanner, Removal

__all__ = [
    "WEIGHTS",
    "AuditConfig",
    "Auditor",
    "CheckResult",
    "DatasetReport",
    "DuplicateScanner",
    "Health",
    "Removal",
    "Scope",
]
