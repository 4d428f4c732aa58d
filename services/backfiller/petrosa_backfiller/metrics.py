"""Prometheus series of the backfill jobs; one process per pod, default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REQUESTS = Counter(
    "data_manager_backfill_requests_total",
    "Backfill requests by outcome: created (jobs for uncovered time), deduplicated (active "
    "jobs cover it all) or rejected.",
    ["outcome"],
)
JOBS_RUNNING = Gauge("data_manager_backfill_jobs_running", "Backfill jobs this process runs now.")
JOBS_FINISHED = Counter(
    "data_manager_backfill_jobs_total", "Backfill jobs this process ended, by status.", ["status"]
)
RECORDS = Counter(
    "data_manager_backfill_records_total", "Records written by backfill jobs.", ["data_type"]
)
PAGES = Counter(
    "data_manager_backfill_pages_total",
    "Pages fetched and written by backfill jobs.",
    ["data_type"],
)
