"""The messages between processes: their wire shapes, round trips, refusals, and what each
error code means for a caller (whose fault, whether to retry, which HTTP status)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from petrosa_core import contracts
from petrosa_core.contracts import (
    AuditEvent,
    AuditEventType,
    BackfillEvent,
    BackfillReply,
    BackfillRequest,
    DataType,
    ErrorCode,
    ErrorReply,
    JobRef,
    JobView,
    decode_reply,
    http_status,
)
from petrosa_core.errors import ParseError, ValidationError
from petrosa_core.metadata import BackfillJob, Finding, FindingStatus, JobStatus
from petrosa_core.models import DatasetId, DatasetKind

HOUR = 3_600_000
NOW = 1_700_000_000_000
JOB = BackfillJob(
    id="job-1",
    dataset_id="candles:BTCUSDT:1m",
    symbol="BTCUSDT",
    data_type="candles",
    interval="1m",
    range_start=NOW - 2 * HOUR,
    range_end=NOW - HOUR,
    origin="api",
    created_at=NOW,
    updated_at=NOW + 5,
    status=JobStatus.RUNNING,
    records_written=60,
    pages=1,
    weight_used=5,
    progress=33.3333,
    checkpoint=NOW - HOUR - 1,
    checkpoint_details={"by": "time"},
    claimed_by="host:1:abcd",
    attempts=1,
    lease_expires_at=NOW + 30_000,
    heartbeat_at=NOW + 5,
    started_at=NOW + 1,
)
# The job fields of a reply and an event as the backfiller sent them before this contract.
PINNED_JOB_FIELDS = [
    "job_id", "dataset_id", "symbol", "data_type", "interval", "status", "range_start",
    "range_end", "records_written", "pages", "weight_used", "progress", "checkpoint",
    "cancel_requested", "error_code", "error_message", "attempts", "worker", "origin",
    "created_time", "started_time", "finished_time",
]  # fmt: skip


def wire(data: bytes) -> Any:
    return json.loads(data)


def test_the_public_surface_is_what_the_services_build_on() -> None:
    assert set(contracts.__all__) == {
        "AUDIT_EVENTS", "AUDIT_QUEUE_GROUP", "AUDIT_REQUEST", "BACKFILL_CANCEL",
        "BACKFILL_EVENTS", "BACKFILL_QUEUE_GROUP", "BACKFILL_REQUEST", "BACKFILL_STATUS",
        "DEFAULT_ORIGIN", "INGESTOR_DEADLETTERS", "MARKET_DATA", "MARKET_UPDATES",
        "MAX_REQUEST_BYTES", "AuditEvent", "AuditEventType", "BackfillEvent", "BackfillReply",
        "BackfillRequest", "BackfillTerms", "DataType", "ErrorCode", "ErrorDetail", "ErrorReply",
        "JobRef", "JobView", "decode_object", "decode_reply", "http_status", "is_retryable",
        "known_code", "market_updates_subject", "AUDIT_HEALTH", "MARKET_UPDATES_ALL",
        "INLINE_RECORDS", "MAX_UPDATE_RECORDS", "HealthUpdate", "MarketUpdate",
        "ANALYTICS_DEADLETTERS", "ANALYTICS_FAMILIES", "ANALYTICS_QUEUE_GROUP",
        "ANALYTICS_REQUEST", "ANALYTICS_WORK", "ANALYTICS_WORK_CONSUMER", "ANALYTICS_WORK_STREAM",
        "DEFAULT_METHODS", "MAX_PAIRS", "MAX_WINDOW", "AnalyticsReply", "AnalyticsRequest",
        "AnalyticsWork",
    }  # fmt: skip
    assert all(hasattr(contracts, name) for name in contracts.__all__)


def test_analytics_families_are_the_pinned_read_side_ones() -> None:
    assert contracts.ANALYTICS_FAMILIES == (
        "volatility", "volume", "spread", "trend", "deviation", "seasonality", "correlation",
        "regime",
    )  # fmt: skip
    assert contracts.ANALYTICS_REQUEST == "petrosa.analytics.request"


def test_subjects_are_the_pinned_names() -> None:
    assert (contracts.MARKET_DATA, contracts.BACKFILL_REQUEST, contracts.BACKFILL_EVENTS) == (
        "binance.futures.websocket.data",
        "petrosa.backfill.request",
        "petrosa.backfill.events",
    )
    assert (contracts.AUDIT_EVENTS, contracts.INGESTOR_DEADLETTERS) == (
        "petrosa.audit.events",
        "petrosa.deadletter.ingestor",
    )
    assert contracts.BACKFILL_QUEUE_GROUP == "backfiller"
    subject = contracts.market_updates_subject(DatasetKind.CANDLES, "BTCUSDT")
    assert subject == "petrosa.market.updates.candles.BTCUSDT"


def test_a_backfill_request_is_the_pinned_shape_and_round_trips() -> None:
    dataset = DatasetId.parse("candles:BTCUSDT:1m")
    request = BackfillRequest.for_dataset(dataset, NOW - HOUR, NOW, origin="auditor")
    funding = BackfillRequest(symbol="ETHUSDT", data_type=DataType.FUNDING_RATES, start=0)

    assert wire(request.encode()) == {
        "symbol": "BTCUSDT", "data_type": "candles", "interval": "1m", "start": NOW - HOUR,
        "end": NOW, "origin": "auditor",
    }  # fmt: skip
    assert wire(funding.encode()) == {"symbol": "ETHUSDT", "data_type": "funding_rates", "start": 0}
    assert BackfillRequest.decode(request.encode()) == request
    assert BackfillRequest.decode(funding.encode()) == funding


def test_a_request_may_carry_iso_times_and_ends_now_when_it_names_no_end() -> None:
    request = BackfillRequest.decode(
        b'{"symbol": "btcusdt", "data_type": "agg_trades", "start": "2023-11-14T22:13:20Z"}'
    )
    terms = request.checked(now=NOW + HOUR)

    assert (terms.dataset, terms.data_type, terms.start, terms.end, terms.origin) == (
        DatasetId.parse("trades:BTCUSDT"),
        DataType.AGG_TRADES,
        NOW,
        NOW + HOUR,
        "nats",
    )


def test_an_end_past_now_is_now_and_a_start_not_before_it_is_a_bad_range() -> None:
    later = BackfillRequest(symbol="BTCUSDT", data_type=DataType.FUNDING_RATES, start=0, end=NOW)
    future = BackfillRequest(symbol="BTCUSDT", data_type=DataType.FUNDING_RATES, start=NOW)

    assert later.checked(now=HOUR).end == HOUR
    with pytest.raises(ValidationError) as refused:
        future.checked(now=NOW)
    assert (refused.value.reason, refused.value.detail) == (
        "bad_range",
        f"start {NOW} is not before end {NOW}",
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[", "bad_json"),
        (b"[1]", "bad_request"),
        (b"{" + b" " * 9000 + b"}", "payload_too_large"),
        (b'{"symbol": "BTCUSDT", "start": 0}', "missing_data_type"),
        (b'{"symbol": "BTCUSDT", "data_type": "depth", "start": 0}', "unknown_data_type"),
        (b'{"data_type": "candles", "interval": "1m", "start": 0}', "missing_symbol"),
        (b'{"symbol": 7, "data_type": "candles", "start": 0}', "missing_symbol"),
        (b'{"symbol": "BTCUSDT", "data_type": "candles", "interval": 1, "start": 0}',
         "unknown_interval"),
        (b'{"symbol": "BTCUSDT", "data_type": "candles", "interval": "1m"}', "missing_start"),
        (b'{"symbol": "BTCUSDT", "data_type": "candles", "start": true}', "bad_time"),
        (b'{"symbol": "BTCUSDT", "data_type": "candles", "start": 0, "end": "\\uff11"}',
         "bad_time"),
        (b'{"symbol": "BTCUSDT", "data_type": "candles", "start": 0, "origin": ""}', "bad_origin"),
    ],
)  # fmt: skip
def test_a_request_that_breaks_a_rule_is_refused_with_its_code(payload: bytes, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        BackfillRequest.decode(payload)

    assert refused.value.reason == reason
    assert ErrorCode(reason).caller_fault


def candles(**fields: Any) -> BackfillRequest:
    return BackfillRequest(
        **{"symbol": "BTCUSDT", "data_type": DataType.CANDLES, "start": 0, **fields}
    )


@pytest.mark.parametrize(
    ("asked", "reason"),
    [
        (candles(), "missing_interval"),
        (candles(interval="7m"), "unknown_interval"),
        (candles(data_type=DataType.FUNDING_RATES, interval="1m"), "unexpected_interval"),
        (candles(data_type=DataType.FUNDING_RATES, symbol="BTC/USDT"), "bad_symbol"),
        (candles(data_type=DataType.FUNDING_RATES, start=-1), "bad_time"),
    ],
)
def test_the_rules_of_a_dataset_are_checked_before_a_job_is_made(
    asked: BackfillRequest, reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        asked.checked(now=NOW)

    assert refused.value.reason == reason


def test_a_job_view_round_trips_and_rebuilds_the_row() -> None:
    view = JobView.of(JOB)

    assert list(wire(view.encode()))[: len(PINNED_JOB_FIELDS)] == PINNED_JOB_FIELDS
    assert JobView.decode(view.encode()) == view
    assert view.to_job() == msgspec.structs.replace(JOB, progress=33.33)
    failed = msgspec.structs.replace(JOB, status=JobStatus.FAILED)
    assert (view.is_final, JobView.of(failed).is_final) == (False, True)
    with pytest.raises(ParseError, match="unknown job status 'paused'"):
        msgspec.structs.replace(view, status="paused").to_job()


def test_a_reply_is_flat_on_the_wire_and_names_every_covering_job() -> None:
    created = BackfillReply.of(JOB, ["job-0", "job-1", "job-2"], ["job-1", "job-2"])
    shared = BackfillReply.of(JOB, ["job-1"])

    sent = wire(created.encode())
    assert list(sent)[: len(PINNED_JOB_FIELDS)] == PINNED_JOB_FIELDS
    assert (sent["job_id"], sent["status"], sent["deduplicated"], sent["job_ids"]) == (
        "job-1",
        "running",
        False,
        ["job-0", "job-1", "job-2"],
    )
    assert sent["created_job_ids"] == ["job-1", "job-2"]
    assert "created_job_ids" not in wire(shared.encode())
    assert BackfillReply.decode(created.encode()) == created
    assert BackfillReply.decode(shared.encode()) == shared
    assert (shared.deduplicated, shared.new_job_ids, created.new_job_ids) == (
        True,
        [],
        ["job-1", "job-2"],
    )


def test_the_pinned_minimal_reply_still_reads() -> None:
    reply = BackfillReply.decode(b'{"job_id": "j", "status": "pending"}')

    assert (reply.job_id, reply.status, reply.job, reply.covering_job_ids) == (
        "j",
        "pending",
        None,
        ["j"],
    )


def test_a_reply_is_the_answer_or_the_error_and_nothing_else() -> None:
    refusal = ErrorReply.of(ErrorCode.STORE_UNAVAILABLE, "try again later", "ab12")

    assert wire(refusal.encode()) == {
        "error": {"code": "store_unavailable", "message": "try again later", "reference": "ab12"}
    }
    assert wire(ErrorReply.of("bad_time", "no").encode()) == {
        "error": {"code": "bad_time", "message": "no"}
    }
    assert decode_reply(refusal.encode(), BackfillReply.decode) == refusal
    assert decode_reply(BackfillReply.of(JOB, ["job-1"]).encode(), BackfillReply.decode) == (
        BackfillReply.of(JOB, ["job-1"])
    )
    for garbage in (b"not json", b"{}", b'{"status": "pending"}'):
        with pytest.raises(ParseError) as unread:
            decode_reply(garbage, BackfillReply.decode)
        assert unread.value.reason == "bad_reply"


def test_an_event_is_the_job_view_with_claimable_and_a_timestamp() -> None:
    event = BackfillEvent.of_job(JOB, claimable=True, timestamp=NOW)

    sent = wire(event.encode())
    view = wire(JobView.of(JOB).encode())
    assert {k: sent[k] for k in PINNED_JOB_FIELDS} == {k: view[k] for k in PINNED_JOB_FIELDS}
    assert (sent["claimable"], sent["timestamp"]) == (True, NOW)
    assert BackfillEvent.decode(event.encode()) == event
    with pytest.raises(ParseError):
        BackfillEvent.decode(b'{"job_id": "j", "status": "completed"}')


NESTING_BOMB = b'{"job_id": "j", "details": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(
    ("decode", "reason"),
    [
        (AuditEvent.decode, "bad_event"),
        (JobView.decode, "bad_job"),
        (BackfillEvent.decode, "bad_event"),
        (BackfillReply.decode, "bad_reply"),
        (lambda data: decode_reply(data, JobView.decode), "bad_reply"),
    ],
)
def test_a_message_nested_past_the_decoders_depth_is_a_parse_error(
    decode: Any, reason: str
) -> None:
    with pytest.raises(ParseError) as unread:
        decode(NESTING_BOMB)
    assert unread.value.reason == reason


def test_a_job_ref_names_the_job_or_is_refused() -> None:
    assert JobRef.decode(JobRef("j").encode()) == JobRef("j")
    with pytest.raises(ValidationError) as refused:
        JobRef.decode(b'{"job_id": ""}')
    assert refused.value.reason == "missing_job_id"


def test_audit_events_of_findings_and_of_sequence_breaks_share_one_envelope() -> None:
    finding = Finding(
        id=7, dataset_id="candles:BTCUSDT:1m", check="gaps", severity="warning",
        status=FindingStatus.RESOLVED, range_start=NOW - HOUR, range_end=NOW, details={"n": 60},
        first_seen_at=NOW, last_seen_at=NOW + 1, resolved_at=NOW + 2,
    )  # fmt: skip
    resolved = AuditEvent.of_finding(AuditEventType.FINDING_RESOLVED, finding)
    brk = AuditEvent.sequence_break(
        dataset="trades:BTCUSDT", check="agg_trade_ids", symbol="BTCUSDT",
        missing_from=11, missing_to=12, observed_at=NOW,
    )  # fmt: skip

    assert wire(resolved.encode()) == {
        "type": "finding_resolved", "dataset_id": "candles:BTCUSDT:1m", "check": "gaps",
        "severity": "warning", "range_start": NOW - HOUR, "range_end": NOW, "details": {"n": 60},
        "finding_id": 7, "status": "resolved", "time": NOW + 2,
    }  # fmt: skip
    sent = wire(brk.encode())
    assert {k: sent[k] for k in ("dataset", "check", "symbol", "missing_from", "missing_to")} == {
        "dataset": "trades:BTCUSDT", "check": "agg_trade_ids", "symbol": "BTCUSDT",
        "missing_from": 11, "missing_to": 12,
    }  # fmt: skip
    assert (sent["type"], sent["dataset_id"], sent["observed_at"], sent["time"]) == (
        "sequence_break",
        "trades:BTCUSDT",
        NOW,
        NOW,
    )
    assert AuditEvent.decode(resolved.encode()) == resolved
    assert AuditEvent.decode(brk.encode()) == brk


@pytest.mark.parametrize(
    ("code", "status", "caller_fault", "retryable"),
    [
        ("bad_time", 400, True, False),
        ("bad_range", 400, True, False),
        ("missing_interval", 400, True, False),
        ("payload_too_large", 413, True, False),
        ("job_not_found", 404, True, False),
        ("unknown_dataset", 404, True, False),
        ("busy", 503, False, True),
        ("store_unavailable", 503, False, True),
        ("audit_failed", 503, False, True),
        ("internal_error", 502, False, False),
    ],
)
def test_each_error_code_says_whose_fault_it_is_and_its_http_status(
    code: str, status: int, caller_fault: bool, retryable: bool
) -> None:
    known = ErrorCode(code)
    reply = ErrorReply.of(code, "x")

    assert (known.http_status, known.caller_fault, known.retryable) == (
        status,
        caller_fault,
        retryable,
    )
    assert (reply.http_status, reply.caller_fault, reply.retryable) == (
        status,
        caller_fault,
        retryable,
    )


def test_every_code_is_a_4xx_of_the_caller_or_a_5xx_of_the_server() -> None:
    for code in ErrorCode:
        assert (400 <= code.http_status < 500) == code.caller_fault, code
        assert not (code.retryable and code.caller_fault), code


def test_a_code_this_version_does_not_know_is_the_callers_fault() -> None:
    reply = ErrorReply.of("range_too_large", "at most 90 days")

    assert (http_status("range_too_large"), reply.caller_fault, reply.retryable) == (
        400,
        True,
        False,
    )
