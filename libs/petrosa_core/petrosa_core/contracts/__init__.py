"""Every message that crosses a process boundary, defined once: subjects, requests, replies,
error codes, the job view and the events. Services build and parse these, never dicts.
"""

from petrosa_core.contracts._audit import AuditEvent, AuditEventType
from petrosa_core.contracts._errors import (
    ErrorCode,
    ErrorDetail,
    ErrorReply,
    http_status,
    is_retryable,
    known_code,
)
from petrosa_core.contracts._jobs import BackfillEvent, BackfillReply, JobView
from petrosa_core.contracts._replies import decode_reply
from petrosa_core.contracts._requests import (
    DEFAULT_ORIGIN,
    MAX_REQUEST_BYTES,
    BackfillRequest,
    BackfillTerms,
    DataType,
    JobRef,
    decode_object,
)
from petrosa_core.contracts._subjects import (
    AUDIT_EVENTS,
    AUDIT_HEALTH,
    AUDIT_QUEUE_GROUP,
    AUDIT_REQUEST,
    BACKFILL_CANCEL,
    BACKFILL_EVENTS,
    BACKFILL_QUEUE_GROUP,
    BACKFILL_REQUEST,
    BACKFILL_STATUS,
    INGESTOR_DEADLETTERS,
    MARKET_DATA,
    MARKET_UPDATES,
    MARKET_UPDATES_ALL,
    market_updates_subject,
)
from petrosa_core.contracts._updates import (
    INLINE_RECORDS,
    MAX_UPDATE_RECORDS,
    HealthUpdate,
    MarketUpdate,
)

__all__ = [
    "AUDIT_EVENTS",
    "AUDIT_HEALTH",
    "AUDIT_QUEUE_GROUP",
    "AUDIT_REQUEST",
    "BACKFILL_CANCEL",
    "BACKFILL_EVENTS",
    "BACKFILL_QUEUE_GROUP",
    "BACKFILL_REQUEST",
    "BACKFILL_STATUS",
    "DEFAULT_ORIGIN",
    "INGESTOR_DEADLETTERS",
    "INLINE_RECORDS",
    "MARKET_DATA",
    "MARKET_UPDATES",
    "MARKET_UPDATES_ALL",
    "MAX_UPDATE_RECORDS",
    "MAX_REQUEST_BYTES",
    "AuditEvent",
    "AuditEventType",
    "BackfillEvent",
    "BackfillReply",
    "BackfillRequest",
    "BackfillTerms",
    "DataType",
    "ErrorCode",
    "ErrorDetail",
    "ErrorReply",
    "HealthUpdate",
    "JobRef",
    "JobView",
    "MarketUpdate",
    "decode_object",
    "decode_reply",
    "http_status",
    "is_retryable",
    "known_code",
    "market_updates_subject",
]
