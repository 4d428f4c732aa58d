"""On-demand analytics from the API's side: each way the analytics processes can fail it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from petrosa_api.analysis_requests import request_analytics
from petrosa_api.errors import ApiError
from petrosa_core.bus import Bus, Message
from petrosa_core.contracts import AnalyticsRequest, ErrorReply

REQUEST = AnalyticsRequest(family="volatility", pairs=["XRPUSDT"], period="5m", window=30)


async def answering(bus: Bus, answer: Callable[[Message], Awaitable[None]]) -> str:
    subject = f"test.analytics.{uuid.uuid4().hex[:10]}"
    await bus.subscribe(subject, handler=answer)
    await bus.flush()
    return subject


async def refusal_of(bus: Bus, subject: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await request_analytics(bus, subject, REQUEST, reply_within=0.5)
    return caught.value


async def test_no_analytics_process_is_a_503_that_says_so(bus: Bus) -> None:
    error = await refusal_of(bus, f"test.analytics.{uuid.uuid4().hex[:10]}")
    assert (error.status, error.code) == (503, "analytics_unavailable")


async def test_a_silent_analytics_process_is_a_503_timeout(bus: Bus) -> None:
    async def ignore(msg: Message) -> None:
        return None

    error = await refusal_of(bus, await answering(bus, ignore))
    assert (error.status, error.code) == (503, "analytics_timeout")


async def test_a_reply_that_is_not_understood_is_a_502(bus: Bus) -> None:
    async def garble(msg: Message) -> None:
        await msg.respond(b'{"results": "not a list"}')

    error = await refusal_of(bus, await answering(bus, garble))
    assert (error.status, error.code) == (502, "bad_analytics_reply")


async def test_a_refusal_keeps_its_code_and_status(bus: Bus) -> None:
    async def refuse(msg: Message) -> None:
        await msg.respond(ErrorReply.of("unknown_dataset", "no candles").encode())

    error = await refusal_of(bus, await answering(bus, refuse))
    assert (error.status, error.code) == (404, "unknown_dataset")
