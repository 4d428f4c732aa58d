"""On-demand audits over NATS request/reply on ``petrosa.audit.request``.

Request: ``{"dataset": "candles:BTCUSDT:1m"}`` (omit it for every dataset), optionally
``"full": true`` for the whole history, or ``"start"``/``"end"`` in epoch ms, or
``"window"`` in seconds. Reply: ``{"reports": [...]}`` or ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from petrosa_auditor.context import Scope
from petrosa_auditor.report import DatasetReport
from petrosa_core.contracts import ErrorCode, ErrorReply
from petrosa_core.errors import LeadershipLost, PetrosaError, ValidationError
from petrosa_core.models import DatasetId

if TYPE_CHECKING:
    from petrosa_auditor.service import AuditorService

# Findings per check in a reply; the totals are always there and the store has them all.
DEFAULT_REPLY_FINDINGS = 100


class AuditRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    dataset: str | None = None
    full: bool = False
    start: int | None = None
    end: int | None = None
    window: float | None = None
    max_findings: int = DEFAULT_REPLY_FINDINGS

    def scope(self, default_window: float) -> Scope:
        if self.full:
            return Scope.full()
        if self.start is not None or self.end is not None:
            return Scope.between(self.start, self.end)
        return Scope.last(self.window or default_window)


def error_reply(code: str, message: str) -> bytes:
    return ErrorReply.of(code, message).encode()


def reply_of(reports: list[DatasetReport], max_findings: int, max_bytes: int) -> bytes:
    """The reports as JSON, findings cut to ``max_findings`` per check, and to none if too big."""
    body = msgspec.json.encode({"reports": [_trimmed(r, max_findings) for r in reports]})
    if len(body) <= max_bytes:
        return body
    summaries = [_trimmed(r, 0) for r in reports]
    return msgspec.json.encode({"reports": summaries, "truncated": True})


def _trimmed(report: DatasetReport, max_findings: int) -> dict[str, Any]:
    data = report.to_json()
    for check in data["checks"]:
        check["findings"] = check["findings"][:max_findings]
    data["gaps"] = data["gaps"][:max_findings]
    return data


async def answer_request(
    service: AuditorService, payload: bytes, token: int, max_bytes: int
) -> bytes:
    """Run the audit a request asks for and return the reply's bytes."""
    try:
        request = msgspec.json.decode(payload or b"{}", type=AuditRequest)
        dataset = DatasetId.parse(request.dataset) if request.dataset else None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return error_reply(ErrorCode.BAD_REQUEST, str(exc))
    except ValidationError as exc:
        return error_reply(exc.reason, str(exc))
    try:
        return await _audit(service, request, dataset, token, max_bytes)
    except LeadershipLost:
        raise
    except PetrosaError as exc:
        return error_reply(ErrorCode.AUDIT_FAILED, str(exc))


async def _audit(
    service: AuditorService,
    request: AuditRequest,
    dataset: DatasetId | None,
    token: int,
    max_bytes: int,
) -> bytes:
    scope = request.scope(service.window)
    if dataset is None:
        reports = await service.audit_all(scope, token)
        return reply_of(reports, request.max_findings, max_bytes)
    known = await service.auditor.datasets()
    if dataset not in known:
        return error_reply(ErrorCode.UNKNOWN_DATASET, f"{dataset} holds no records")
    report = await service.audit_one(dataset, scope, token, known)
    if report is None:
        return error_reply(
            ErrorCode.AUDIT_FAILED, f"the audit of {dataset} failed; see the auditor log"
        )
    return reply_of([report], request.max_findings, max_bytes)
