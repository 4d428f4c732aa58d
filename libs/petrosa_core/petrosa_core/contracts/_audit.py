"""The one envelope of ``petrosa.audit.events``: findings the auditor opened or resolved,
and sequence breaks the ingestor saw on the way in.

Every event names its type, dataset, check, severity, range, details and time. A sequence
break also keeps the fields it was first published with (``dataset``, ``symbol``,
``missing_from``, ``missing_to``, ``observed_at``), for the subscribers that read them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET, UnsetType

from petrosa_core.errors import ParseError

if TYPE_CHECKING:  # the metadata store pulls in SQLAlchemy; a type needs none of it
    from petrosa_core.metadata import Finding

# The ingestor sees part of the stream per replica: a break there is a hint to check.
SEQUENCE_BREAK_SEVERITY = "warning"


class AuditEventType(StrEnum):
    FINDING_OPENED = "finding_opened"
    FINDING_RESOLVED = "finding_resolved"
    SEQUENCE_BREAK = "sequence_break"


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something wrong (or right again) in one dataset; ``time`` is when it was seen."""

    type: AuditEventType
    dataset_id: str
    check: str
    severity: str
    range_start: int | None
    range_end: int | None
    details: dict[str, Any]
    finding_id: int | None
    status: str | None
    time: int
    dataset: str | UnsetType = UNSET
    symbol: str | UnsetType = UNSET
    missing_from: int | UnsetType = UNSET
    missing_to: int | UnsetType = UNSET
    observed_at: int | UnsetType = UNSET

    @classmethod
    def of_finding(cls, type: AuditEventType, finding: Finding) -> AuditEvent:
        resolved = finding.resolved_at
        return cls(
            type=type,
            dataset_id=finding.dataset_id,
            check=finding.check,
            severity=finding.severity,
            range_start=finding.range_start,
            range_end=finding.range_end,
            details=finding.details,
            finding_id=finding.id,
            status=finding.status.value,
            time=resolved if resolved is not None else finding.last_seen_at,
        )

    @classmethod
    def sequence_break(
        cls,
        *,
        dataset: str,
        check: str,
        symbol: str,
        missing_from: int,
        missing_to: int,
        observed_at: int,
    ) -> AuditEvent:
        """Ids ``missing_from..missing_to`` skipped in ``dataset``'s stream (ids, not times)."""
        return cls(
            type=AuditEventType.SEQUENCE_BREAK,
            dataset_id=dataset,
            check=check,
            severity=SEQUENCE_BREAK_SEVERITY,
            range_start=None,
            range_end=None,
            details={"missing_from": missing_from, "missing_to": missing_to},
            finding_id=None,
            status=None,
            time=observed_at,
            dataset=dataset,
            symbol=symbol,
            missing_from=missing_from,
            missing_to=missing_to,
            observed_at=observed_at,
        )

    def encode(self) -> bytes:
        return _encode(self)

    @classmethod
    def decode(cls, data: bytes) -> AuditEvent:
        try:
            return _decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ParseError("bad_event", str(exc)) from None
        except RecursionError:  # msgspec recurses once per nested array or object
            raise ParseError("bad_event", "the event nests too deeply") from None


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(AuditEvent).decode
