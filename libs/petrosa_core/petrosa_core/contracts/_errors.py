"""Error replies on NATS and the one table of what each error code means.

Every code says whether the caller is at fault (the same request fails again) and whether
a retry may succeed; ``http_status`` is the one mapping of a code to an HTTP status. A
code not in ``ErrorCode`` (a newer peer's refusal) is the caller's fault: a 400.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from petrosa_core.errors import ValidationError


class ErrorCode(StrEnum):
    """The codes an error reply on NATS carries."""

    # The caller's fault: the request breaks a rule.
    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    MISSING_SYMBOL = "missing_symbol"
    BAD_SYMBOL = "bad_symbol"
    MISSING_DATA_TYPE = "missing_data_type"
    UNKNOWN_DATA_TYPE = "unknown_data_type"
    MISSING_INTERVAL = "missing_interval"
    UNKNOWN_INTERVAL = "unknown_interval"
    UNEXPECTED_INTERVAL = "unexpected_interval"
    MISSING_START = "missing_start"
    BAD_TIME = "bad_time"
    BAD_RANGE = "bad_range"
    BAD_ORIGIN = "bad_origin"
    BAD_DATASET_ID = "bad_dataset_id"
    MISSING_JOB_ID = "missing_job_id"
    JOB_NOT_FOUND = "job_not_found"
    UNKNOWN_DATASET = "unknown_dataset"
    # Not the caller's fault.
    BUSY = "busy"
    STORE_UNAVAILABLE = "store_unavailable"
    AUDIT_FAILED = "audit_failed"
    INTERNAL_ERROR = "internal_error"

    @property
    def caller_fault(self) -> bool:
        return self not in _SERVER_STATUS

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later: the server was down or busy."""
        return self in _RETRYABLE

    @property
    def http_status(self) -> int:
        return _SERVER_STATUS.get(self) or _CALLER_STATUS.get(self, 400)


# Outages are 503 (retry later); a peer that failed on the request is a bad gateway.
_SERVER_STATUS = {
    ErrorCode.BUSY: 503,
    ErrorCode.STORE_UNAVAILABLE: 503,
    ErrorCode.AUDIT_FAILED: 503,
    ErrorCode.INTERNAL_ERROR: 502,
}
_RETRYABLE = frozenset({ErrorCode.BUSY, ErrorCode.STORE_UNAVAILABLE, ErrorCode.AUDIT_FAILED})
_CALLER_STATUS = {
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.UNKNOWN_DATASET: 404,
}


def known_code(code: str) -> ErrorCode | None:
    """``code`` as an ``ErrorCode``, or None for a code this version does not know."""
    try:
        return ErrorCode(code)
    except ValueError:
        return None


def http_status(code: str) -> int:
    """The HTTP status that answers an error reply with ``code``; unknown codes are 400."""
    known = known_code(code)
    return 400 if known is None else known.http_status


def is_retryable(code: str) -> bool:
    known = known_code(code)
    return known is not None and known.retryable


class ErrorDetail(msgspec.Struct, frozen=True, omit_defaults=True):
    """What went wrong; ``reference`` names the log line of a failure that is not the caller's."""

    code: str
    message: str
    reference: str | None = None


class ErrorReply(msgspec.Struct, frozen=True):
    """``{"error": {"code", "message", "reference"?}}``: a request that was not done."""

    error: ErrorDetail

    @classmethod
    def of(cls, code: str, message: str, reference: str | None = None) -> ErrorReply:
        return cls(ErrorDetail(str(code), message, reference))

    @classmethod
    def refusing(cls, exc: ValidationError) -> ErrorReply:
        """The reply to a request that broke a rule: its reason is the code."""
        return cls.of(exc.reason, exc.detail or exc.reason)

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def message(self) -> str:
        return self.error.message

    @property
    def caller_fault(self) -> bool:
        known = known_code(self.error.code)
        return known is None or known.caller_fault

    @property
    def retryable(self) -> bool:
        return is_retryable(self.error.code)

    @property
    def http_status(self) -> int:
        return http_status(self.error.code)

    def encode(self) -> bytes:
        return _encode(self)


_encode = msgspec.json.Encoder().encode
