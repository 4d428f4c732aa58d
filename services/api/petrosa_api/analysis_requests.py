"""Analytics computed on demand: the analytics processes' answers as API answers.

The metric library lives in the analytics service, and services never import each other,
so the API asks over NATS (request/reply, any analytics replica answers) rather than
computing in its own event loop; the analytics process stores what it computed, so the
next caller is served from the store.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from petrosa_api.backfill_requests import refusal
from petrosa_api.errors import ApiError
from petrosa_api.times import iso_or_none
from petrosa_core.bus import Bus
from petrosa_core.contracts import AnalyticsReply, AnalyticsRequest, ErrorReply, decode_reply
from petrosa_core.errors import BusTimeout, NoResponders, ParseError
from petrosa_core.market.analytics import AnalyticsResult

log = logging.getLogger("petrosa.api")

# Fields of a result the answer sets itself; a metric's extra field of the same name is
# not allowed to overwrite them.
_OWN_FIELDS = frozenset(
    {"pair", "pairs", "period", "dataset", "family", "method", "window", "value", "source"}
)


async def request_analytics(
    bus: Bus, subject: str, request: AnalyticsRequest, reply_within: float
) -> list[AnalyticsResult]:
    """Ask the analytics processes to compute now; ``ApiError`` when none answers or they refuse."""
    try:
        raw = await bus.request(subject, request.encode(), within=reply_within)
    except NoResponders:
        raise ApiError(
            503,
            "analytics_unavailable",
            f"nothing is stored for this window and no analytics process listens on {subject}: "
            "start the analytics service",
        ) from None
    except BusTimeout:
        raise ApiError(
            503,
            "analytics_timeout",
            f"no analytics process answered within {reply_within:g}s; try again later",
        ) from None
    try:
        reply = decode_reply(raw, AnalyticsReply.decode)
    except ParseError as exc:
        log.error("analytics reply not understood: %s: %r", exc, raw[:200])
        raise ApiError(
            502, "bad_analytics_reply", "the analytics reply was not understood"
        ) from None
    if isinstance(reply, ErrorReply):
        raise refusal(reply)
    return reply.results


def render(result: AnalyticsResult, source: str, pairs: list[str] | None = None) -> dict[str, Any]:
    """One result as ``/analysis`` answers it: the pinned fields, then the metric's own extras."""
    data: dict[str, Any] = {"pairs": pairs} if pairs else {"pair": result.dataset.symbol}
    data.update(
        {
            "period": result.dataset.interval,
            "family": result.family,
            "method": result.method,
            "window": result.window,
            "value": result.value,
            "as_of_time": result.as_of_time,
            "as_of_iso": iso_or_none(result.as_of_time),
            "completeness": result.completeness,
            "complete": result.completeness >= 1.0,
            "bars_used": result.bars_used,
            "computed_time": result.computed_time,
            "computed_iso": iso_or_none(result.computed_time),
            "source": source,
            "round_id": result.round_id or None,
            "lineage": msgspec.to_builtins(result.lineage),
        }
    )
    data.update({k: v for k, v in result.extra.items() if k not in _OWN_FIELDS and k not in data})
    return data
