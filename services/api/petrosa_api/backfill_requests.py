"""Backfill requests over NATS request/reply: the backfillers' answers as API answers.

A refusal keeps the backfiller's code; ``contracts.http_status`` says which status it is
(the caller's fault: 4xx; an outage of the backfiller or its store: 503).
"""

from __future__ import annotations

import logging

from petrosa_api.errors import ApiError
from petrosa_core.bus import Bus
from petrosa_core.contracts import BackfillReply, BackfillRequest, ErrorReply, decode_reply
from petrosa_core.errors import BusTimeout, NoResponders, ParseError

log = logging.getLogger("petrosa.api")

# Seconds a client should wait before asking again after a refusal that may pass.
RETRY_AFTER_SECONDS = 5


async def request_backfill(
    bus: Bus, subject: str, request: BackfillRequest, reply_within: float
) -> BackfillReply:
    """Ask the backfillers for jobs; ``ApiError`` when none answers or they refuse."""
    try:
        raw = await bus.request(subject, request.encode(), within=reply_within)
    except NoResponders:
        raise ApiError(
            503,
            "backfill_unavailable",
            f"no backfiller is listening on {subject}: start the backfiller service",
        ) from None
    except BusTimeout:
        raise ApiError(
            503,
            "backfill_timeout",
            f"no backfiller answered on {subject} within {reply_within:g}s; try again later",
        ) from None
    try:
        reply = decode_reply(raw, BackfillReply.decode)
    except ParseError as exc:
        log.error("backfiller reply not understood: %s: %r", exc, raw[:200])
        raise ApiError(
            502, "bad_backfill_reply", "the backfiller reply was not understood"
        ) from None
    if isinstance(reply, ErrorReply):
        raise refusal(reply)
    return reply


def refusal(reply: ErrorReply) -> ApiError:
    """The API error that passes a backfiller's refusal on, with its code and status."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if reply.retryable else None
    return ApiError(reply.http_status, reply.code, reply.message or reply.code, headers)
