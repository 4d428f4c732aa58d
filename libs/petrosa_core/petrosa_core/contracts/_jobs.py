"""Backfill jobs as they cross processes: the job view, the reply to a request, the events.

A ``BackfillReply`` is flat on the wire: the job's own fields beside ``deduplicated``,
``job_ids`` and ``created_job_ids``. Only ``job_id`` and ``status`` are sure to be there
(the pinned minimum), so the full job is read when present and ``None`` otherwise.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from petrosa_core.errors import ParseError
from petrosa_core.metadata import FINAL_STATUSES, BackfillJob, JobStatus

JsonObject = dict[str, Any]


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    """A backfill job as replies, events and the CLI show it; times are epoch ms."""

    job_id: str
    dataset_id: str
    symbol: str
    data_type: str
    interval: str | None
    status: str
    range_start: int
    range_end: int
    records_written: int
    pages: int
    weight_used: int
    progress: float
    checkpoint: int | None
    cancel_requested: bool
    error_code: str | None
    error_message: str | None
    attempts: int
    worker: str | None
    origin: str
    created_time: int
    started_time: int | None
    finished_time: int | None
    # Added so a reply carries the whole row; older senders leave them out.
    updated_time: int | None = None
    checkpoint_details: JsonObject | None = None
    lease_expires_time: int | None = None
    heartbeat_time: int | None = None

    @classmethod
    def of(cls, job: BackfillJob) -> JobView:
        return cls(
            job_id=job.id,
            dataset_id=job.dataset_id,
            symbol=job.symbol,
            data_type=job.data_type,
            interval=job.interval,
            status=job.status.value,
            range_start=job.range_start,
            range_end=job.range_end,
            records_written=job.records_written,
            pages=job.pages,
            weight_used=job.weight_used,
            progress=round(job.progress, 2),
            checkpoint=job.checkpoint,
            cancel_requested=job.cancel_requested,
            error_code=job.error_code,
            error_message=job.error_message,
            attempts=job.attempts,
            worker=job.claimed_by,
            origin=job.origin,
            created_time=job.created_at,
            started_time=job.started_at,
            finished_time=job.finished_at,
            updated_time=job.updated_at,
            checkpoint_details=job.checkpoint_details,
            lease_expires_time=job.lease_expires_at,
            heartbeat_time=job.heartbeat_at,
        )

    @property
    def is_final(self) -> bool:
        return self.status in _FINAL_NAMES

    def to_job(self) -> BackfillJob:
        """The job row this view was made from (progress rounded to two places).

        ``ParseError("bad_job")`` when the status is none this version knows.
        """
        try:
            status = JobStatus(self.status)
        except ValueError:
            raise ParseError("bad_job", f"unknown job status {self.status!r}") from None
        return BackfillJob(
            id=self.job_id,
            dataset_id=self.dataset_id,
            symbol=self.symbol,
            data_type=self.data_type,
            interval=self.interval,
            range_start=self.range_start,
            range_end=self.range_end,
            origin=self.origin,
            created_at=self.created_time,
            updated_at=self.updated_time if self.updated_time is not None else self.created_time,
            status=status,
            cancel_requested=self.cancel_requested,
            records_written=self.records_written,
            pages=self.pages,
            weight_used=self.weight_used,
            progress=self.progress,
            checkpoint=self.checkpoint,
            checkpoint_details=self.checkpoint_details,
            error_code=self.error_code,
            error_message=self.error_message,
            claimed_by=self.worker,
            attempts=self.attempts,
            lease_expires_at=self.lease_expires_time,
            heartbeat_at=self.heartbeat_time,
            started_at=self.started_time,
            finished_at=self.finished_time,
        )

    def encode(self) -> bytes:
        return _encode(self)

    @classmethod
    def decode(cls, data: bytes) -> JobView:
        try:
            return _decode_view(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ParseError("bad_job", str(exc)) from None
        except RecursionError:  # msgspec recurses once per nested array or object
            raise ParseError("bad_job", "the job nests too deeply") from None


_FINAL_NAMES = frozenset(status.value for status in FINAL_STATUSES)


class BackfillEvent(JobView, frozen=True, kw_only=True):
    """A job as it stands, on ``petrosa.backfill.events``; ``claimable`` wakes idle workers."""

    claimable: bool = False
    timestamp: int = 0

    @classmethod
    def of_job(cls, job: BackfillJob, *, claimable: bool, timestamp: int) -> BackfillEvent:
        fields = msgspec.structs.asdict(JobView.of(job))
        return cls(**fields, claimable=claimable, timestamp=timestamp)

    @classmethod
    def decode(cls, data: bytes) -> BackfillEvent:
        try:
            return _decode_event(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ParseError("bad_event", str(exc)) from None
        except RecursionError:
            raise ParseError("bad_event", "the event nests too deeply") from None


class _ReplyHead(msgspec.Struct, frozen=True):
    job_id: str
    status: str
    deduplicated: bool = False
    job_ids: list[str] = []
    created_job_ids: list[str] | UnsetType = UNSET


class BackfillReply(msgspec.Struct, frozen=True, kw_only=True):
    """What a backfill request is answered with: the job, and every job covering the range.

    ``job_ids`` lists, in range order, the jobs that together cover the range;
    ``created_job_ids`` those this request created (absent when ``deduplicated``: active
    jobs already covered it all). ``job`` is the first new job, or the active one.
    """

    job_id: str
    status: str
    deduplicated: bool = False
    job_ids: list[str] = []
    created_job_ids: list[str] | UnsetType = UNSET
    job: JobView | None = None

    @classmethod
    def of(
        cls, job: BackfillJob, job_ids: list[str], created_job_ids: list[str] | None = None
    ) -> BackfillReply:
        """The reply naming ``job``; no ``created_job_ids`` means every job already existed."""
        return cls(
            job_id=job.id,
            status=job.status.value,
            deduplicated=created_job_ids is None,
            job_ids=job_ids,
            created_job_ids=UNSET if created_job_ids is None else created_job_ids,
            job=JobView.of(job),
        )

    @property
    def covering_job_ids(self) -> list[str]:
        """Every job covering the range; a minimal reply names just its own."""
        return self.job_ids or [self.job_id]

    @property
    def new_job_ids(self) -> list[str]:
        """The jobs this request created."""
        return [] if isinstance(self.created_job_ids, UnsetType) else self.created_job_ids

    def encode(self) -> bytes:
        """The flat wire form: the job's fields beside the reply's own."""
        body: JsonObject = {} if self.job is None else msgspec.to_builtins(self.job)
        body.update(msgspec.to_builtins(_ReplyHead(**_head_fields(self))))
        return _encode(body)

    @classmethod
    def decode(cls, data: bytes) -> BackfillReply:
        """Read a reply; ``ParseError`` when it has no ``job_id`` and ``status``."""
        try:
            head = _decode_head(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ParseError("bad_reply", str(exc)) from None
        except RecursionError:  # the head decoder skips the same nesting the view would read
            raise ParseError("bad_reply", "the reply nests too deeply") from None
        try:
            job: JobView | None = _decode_view(data)
        except msgspec.ValidationError:
            job = None  # a peer that sends only the pinned minimum
        return cls(**msgspec.structs.asdict(head), job=job)


def _head_fields(reply: BackfillReply) -> JsonObject:
    return {name: getattr(reply, name) for name in _ReplyHead.__struct_fields__}


_encode = msgspec.json.Encoder().encode
_decode_head = msgspec.json.Decoder(_ReplyHead).decode
_decode_view = msgspec.json.Decoder(JobView).decode
_decode_event = msgspec.json.Decoder(BackfillEvent).decode
