"""Backfill requests over NATS request/reply: the API's one boundary with nats-py errors."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import nats.errors

from petrosa_api.errors import ApiError
from petrosa_core.bus import Bus

log = logging.getLogger("petrosa.api")

# Backfiller error codes that are not the caller's fault; any other code is a 400.
_STATUS_BY_CODE = {"unavailable": 503, "busy": 503, "internal": 502, "conflict": 409}


class BackfillReply(msgspec.Struct, frozen=True):
    job_id: str
    status: str


class _Refusal(msgspec.Struct, frozen=True):
    code: str
    message: str = ""


class _ErrorReply(msgspec.Struct, frozen=True):
    error: _Refusal


async def request_backfill(
    bus: Bus, subject: str, body: dict[str, Any], reply_within: float
) -> BackfillReply:
    """Ask the backfillers for a job; raise ``ApiError`` 503 when none answers in time."""
    payload = msgspec.json.encode(body)
    try:
        message = await bus.client.request(subject, payload, timeout=reply_within)
    except nats.errors.NoRespondersError:
        raise ApiError(
            503,
            "backfill_unavailable",
            f"no backfiller is listening on {subject}: start the backfiller service",
        ) from None
    except (nats.errors.TimeoutError, TimeoutError):
        raise ApiError(
            503,
            "backfill_timeout",
            f"no backfiller answered on {subject} within {reply_within:g}s; try again later",
        ) from None
    except nats.errors.Error as exc:
        raise ApiError(503, "bus_unavailable", f"NATS request failed: {exc}") from None
    return _decode(message.data)


def _decode(data: bytes) -> BackfillReply:
    try:
        return msgspec.json.decode(data, type=BackfillReply)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError:
        log.error("backfiller reply is not JSON: %r", data[:200])
        raise ApiError(502, "bad_backfill_reply", "the backfiller answered with non-JSON") from None
    try:
        refusal = msgspec.json.decode(data, type=_ErrorReply).error
    except msgspec.ValidationError:
        log.error("backfiller reply has neither job_id nor error: %r", data[:200])
        raise ApiError(
            502, "bad_backfill_reply", "the backfiller reply was not understood"
        ) from None
    status = _STATUS_BY_CODE.get(refusal.code, 400)
    raise ApiError(status, refusal.code, refusal.message or refusal.code)
