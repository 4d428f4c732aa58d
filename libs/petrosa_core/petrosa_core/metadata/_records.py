"""Rows the metadata store returns and the inputs it takes; times are int epoch ms (UTC)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from petrosa_core.models import DatasetId

JsonObject = dict[str, Any]


class DatasetRecord(msgspec.Struct, frozen=True):
    """A catalog entry; ``id`` is the dataset id string (``candles:BTCUSDT:1m``)."""

    id: str
    kind: str
    symbol: str
    interval: str | None
    source: str
    description: str
    category: str
    update_frequency: str
    created_at: int
    updated_at: int

    @property
    def dataset(self) -> DatasetId:
        return DatasetId.parse(self.id)


class LineageRecord(msgspec.Struct, frozen=True):
    """``dataset_id`` was produced from ``source`` by ``process`` (over a range, by a job)."""

    id: int
    dataset_id: str
    source: str
    process: str
    job_id: str | None
    range_start: int | None
    range_end: int | None
    record_count: int | None
    details: JsonObject | None
    created_at: int


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class FindingIn(msgspec.Struct, frozen=True):
    """One problem an audit sees now; (dataset, check, range_start, range_end) identify it."""

    severity: str
    range_start: int | None = None
    range_end: int | None = None
    details: JsonObject = msgspec.field(default_factory=dict)


class Finding(msgspec.Struct, frozen=True):
    id: int
    dataset_id: str
    check: str
    severity: str
    status: FindingStatus
    range_start: int | None
    range_end: int | None
    details: JsonObject
    first_seen_at: int
    last_seen_at: int
    resolved_at: int | None


class SyncResult(msgspec.Struct, frozen=True):
    """What one audit pass changed: new findings, findings seen again, findings now gone."""

    opened: list[Finding]
    still_open: list[Finding]
    resolved: list[Finding]


class HealthRecord(msgspec.Struct, frozen=True):
    id: int
    dataset_id: str
    score: float
    completeness: float
    validity: float
    freshness: float
    consistency: float
    details: JsonObject
    measured_at: int


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.RUNNING})
FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class BackfillJob(msgspec.Struct, frozen=True):
    """A backfill of ``[range_start, range_end)``; ``checkpoint`` is where a resume starts."""

    id: str
    dataset_id: str
    symbol: str
    data_type: str
    interval: str | None
    range_start: int
    range_end: int
    origin: str
    created_at: int
    updated_at: int
    status: JobStatus = JobStatus.PENDING
    cancel_requested: bool = False
    records_written: int = 0
    pages: int = 0
    weight_used: int = 0
    progress: float = 0.0
    checkpoint: int | None = None
    checkpoint_details: JsonObject | None = None
    error_code: str | None = None
    error_message: str | None = None
    claimed_by: str | None = None
    attempts: int = 0
    lease_expires_at: int | None = None
    heartbeat_at: int | None = None
    started_at: int | None = None
    finished_at: int | None = None


class SchemaRecord(msgspec.Struct, frozen=True):
    """One version of a registered JSON Schema (draft-07) document.

    ``store`` is the store whose records it describes (``mysql`` or ``mongodb``);
    ``status`` is ``active`` or ``deprecated`` (versions are never erased).
    """

    store: str
    name: str
    version: int
    document: JsonObject
    fingerprint: str
    description: str
    status: str
    describes: str | None
    created_at: int
    updated_at: int
