"""Prometheus metrics of the auditor; ``data_manager_`` prefix and base units."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

AUDITS = Counter(
    "data_manager_audits_total", "Dataset audits run, by result (ok, failed)", ["result"]
)
AUDIT_SECONDS = Histogram(
    "data_manager_audit_duration_seconds",
    "Time to audit one dataset, by phase (total, store_read, checks)",
    ["phase"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
OPEN_FINDINGS = Gauge(
    "data_manager_audit_open_findings",
    "Findings the latest audits of all datasets hold open, by check and severity",
    ["check", "severity"],
)
FINDINGS_OPENED = Counter(
    "data_manager_audit_findings_opened_total",
    "Findings an audit saw for the first time, by check and severity",
    ["check", "severity"],
)
HEALTH_SCORE = Gauge(
    "data_manager_audit_health_score", "Latest health score (0..100) per dataset", ["dataset"]
)
DUPLICATES_REMOVED = Counter(
    "data_manager_audit_duplicates_removed_total", "Surplus copies of natural keys removed"
)
BACKFILL_REQUESTS = Counter(
    "data_manager_audit_backfill_requests_total",
    "Automatic backfill requests, by result (requested, existing, failed)",
    ["result"],
)
BACKFILLS_OUTSTANDING = Gauge(
    "data_manager_audit_backfills_outstanding", "Automatic backfill jobs not yet finished"
)
REPAIRS = Counter(
    "data_manager_audit_repairs_total", "Automatic backfill jobs finished, by status", ["status"]
)
