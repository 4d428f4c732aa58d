"""GET /stream (Server-Sent Events) and /ws (WebSocket): stored data pushed as it lands.

Both take the API key as a header or ``api_key=`` and need the ``read`` scope when reads
need a key. Each client has a bounded queue; one that falls behind is dropped with a
final ``dropped`` event (SSE) or close code 1013 (WebSocket). See docs/push.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Header, Query, Request, WebSocket
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from petrosa_api.api.deps import state_of, stream_access
from petrosa_api.errors import ApiError, error_response
from petrosa_api.push_hub import DROPPED, PushClient, PushEvent, PushHub, parse_topics
from petrosa_api.schemas import documented
from petrosa_core.errors import ValidationError

log = logging.getLogger("petrosa.api")

router = APIRouter(tags=["push"])

# A comment line this often keeps proxies from closing a quiet stream, and finds dead peers.
KEEPALIVE_SECONDS = 15.0
# How long a dropped client is given to take its final event before the connection closes.
FINAL_GRACE_SECONDS = 1.0
# Browsers reconnect an EventSource after this many milliseconds.
RETRY_MS = 2000
# A command is a few dataset ids; anything larger is not one.
MAX_COMMAND_BYTES = 64 * 1024
# WebSocket close codes by reason: "try again later" for a slow reader, "service restart"
# when the API stops, "message too big" for a huge command.
CLOSE_CODES = {
    "slow_consumer": 1013,
    "send_timeout": 1013,
    "server_shutdown": 1012,
    "command_too_large": 1009,
}
CLOSE_POLICY = 1008

SendBody = Callable[[bytes], Awaitable[None]]
_encode = msgspec.json.Encoder().encode

DATASETS_HELP = (
    "Comma-separated dataset ids (candles:BTCUSDT:1m, trades:BTCUSDT, ...) and topics "
    "jobs, findings, health"
)


class Command(msgspec.Struct, frozen=True):
    """What a WebSocket client sends."""

    action: Literal["subscribe", "unsubscribe"]
    datasets: list[str]


_decode_command = msgspec.json.Decoder(Command).decode


def _admit(connection: Request | WebSocket, datasets: str) -> set[str]:
    """The caller's topics once the key, the client limit and the datasets are checked."""
    stream_access(connection)
    state = state_of(connection)
    if state.push.connected >= state.settings.api_push_max_clients:
        raise ApiError(503, "too_many_clients", "the push channel is full; retry shortly")
    try:
        return parse_topics(datasets.split(","))
    except ValidationError as exc:
        raise ApiError(400, exc.reason, exc.detail or exc.reason) from None


async def _write(client: PushClient, within: float, sending: Awaitable[None]) -> bool:
    """Finish ``sending`` unless the client is dropped meanwhile or it takes ``within`` s."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(within) as deadline:
            client.on_drop = lambda: deadline.reschedule(loop.time())
            await sending
    except TimeoutError:
        if client.dropped is None:
            DROPPED.labels(client.protocol, "send_timeout").inc()
            client.dropped = "send_timeout"
        return False
    finally:
        client.on_drop = None
    return True


class EventStream(Response):
    """One SSE client's events until it leaves or is dropped."""

    media_type = "text/event-stream"

    def __init__(self, hub: PushHub, client: PushClient, opening: bytes, timeout: float) -> None:
        super().__init__(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        # Endless: no Content-Length (the base class declares one for its empty body).
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.hub, self.client, self.opening, self.timeout = hub, client, opening, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        watcher = asyncio.create_task(self._watch(receive), name="sse-disconnect")

        async def body(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        try:
            if await self._pump(body):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            self.hub.disconnect(self.client)

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.client.close()

    async def _pump(self, body: SendBody) -> bool:
        """Send events until the client leaves (True) or is dropped (False once told)."""
        client = self.client
        data = self.opening
        while await _write(client, self.timeout, body(data)):
            try:
                await asyncio.wait_for(client.ready.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                data = b": keepalive\n\n"
                continue
            if client.closed or client.dropped:
                break
            data = b"".join(e.sse for e in client.take()[1])
        if client.closed and not client.dropped:
            return True
        await self._farewell(body)
        return False

    async def _farewell(self, body: SendBody) -> None:
        reason = self.client.dropped or "closed"
        final = sse_frame("dropped", {"reason": reason, "message": _why(reason)})
        try:
            async with asyncio.timeout(FINAL_GRACE_SECONDS):
                await body(final)
        except TimeoutError:
            log.info("push client dropped (%s) without taking its final event", reason)


def _why(reason: str) -> str:
    if reason == "server_shutdown":
        return "this API replica is stopping; reconnect (with Last-Event-ID) to another"
    return (
        "this client did not read events as fast as they came; reconnect (with "
        "Last-Event-ID to resume) and read faster, or subscribe to fewer datasets"
    )


def sse_frame(name: str, data: Any) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (name.encode(), _encode(data))


def _opening(hub: PushHub, topics: set[str], last_event_id: str | None) -> bytes:
    """The retry hint, the subscription, then a resume's events or why none can be sent."""
    parts = [b"retry: %d\n\n" % RETRY_MS, sse_frame("subscribed", {"datasets": sorted(topics)})]
    if last_event_id:
        resume = hub.resume(last_event_id, topics)
        if resume.reset is not None:
            message = "events since that id are not held here; re-read them with /data"
            parts.append(sse_frame("reset", {"reason": resume.reset, "message": message}))
        parts += [e.sse for e in resume.events]
    return b"".join(parts)


SSE_EXAMPLE = (
    'event: subscribed\ndata: {"datasets":["candles:BTCUSDT:1m"]}\n\n'
    "id: 5e0c21aa-17\nevent: candles\n"
    'data: {"symbol":"BTCUSDT","interval":"1m","open_time":1767225600000,...}\n\n'
)


@router.get(
    "/stream",
    summary="Server-Sent Events of stored records, jobs, findings and health",
    response_class=Response,
    responses={
        **documented(None, 400, 401, 403, 429, 503),
        200: {
            "description": "An endless event stream",
            "content": {"text/event-stream": {"example": SSE_EXAMPLE}},
        },
    },
)
async def stream(
    request: Request,
    datasets: Annotated[str, Query(min_length=1, max_length=4000, description=DATASETS_HELP)],
    last_event_id: Annotated[str | None, Header(max_length=80)] = None,
    api_key: Annotated[str | None, Query(description="The API key, for EventSource")] = None,
) -> Response:
    """One ``event:`` per record (named by its kind) with ``data:`` the record as /data
    renders it; ``Last-Event-ID`` resumes within the replay window."""
    del api_key  # read by stream_access with the headers
    topics = _admit(request, datasets)
    state = state_of(request)
    hub = state.push
    client = hub.connect("sse")
    hub.subscribe(client, topics)
    opening = _opening(hub, topics, last_event_id)
    return EventStream(hub, client, opening, state.settings.api_push_send_timeout)


@router.websocket("/ws")
async def websocket(websocket: WebSocket) -> None:
    """Send ``{"action": "subscribe" | "unsubscribe", "datasets": [...]}``; events arrive as
    ``{"event", "dataset", "id", "data"}``."""
    try:
        topics = _admit(websocket, websocket.query_params.get("datasets", ""))
    except ApiError as exc:
        await websocket.send_denial_response(
            error_response(exc.status, exc.code, exc.message, exc.headers)
        )
        return
    state = state_of(websocket)
    hub = state.push
    client = hub.connect("ws")
    try:
        hub.subscribe(client, topics)
        await websocket.accept()
        if topics:
            client.notify(_encode({"event": "subscribed", "datasets": sorted(client.topics)}))
        await _serve_ws(websocket, hub, client, state.settings.api_push_send_timeout)
    finally:
        hub.disconnect(client)


async def _serve_ws(websocket: WebSocket, hub: PushHub, client: PushClient, within: float) -> None:
    reader = asyncio.create_task(_read_commands(websocket, hub, client), name="ws-commands")
    try:
        await _send_ws(websocket, client, within)
    finally:
        reader.cancel()


async def _send_ws(websocket: WebSocket, client: PushClient, within: float) -> None:
    while True:
        await client.ready.wait()
        if client.closed and not client.dropped:
            return
        if client.dropped:
            break
        notices, events = client.take()
        if not await _write(client, within, _send_all(websocket, notices, events)):
            break
    reason = client.dropped or "closed"
    code = CLOSE_CODES.get(reason, CLOSE_POLICY)
    try:
        async with asyncio.timeout(FINAL_GRACE_SECONDS):
            await websocket.close(code, reason)
    except (TimeoutError, RuntimeError):
        log.info("push client dropped (%s) before its close frame was sent", reason)


async def _send_all(websocket: WebSocket, notices: list[bytes], events: list[PushEvent]) -> None:
    for payload in notices:
        await websocket.send_text(payload.decode())
    for event in events:
        await websocket.send_text(event.ws.decode())


async def _read_commands(websocket: WebSocket, hub: PushHub, client: PushClient) -> None:
    """Apply each command and answer it; the connection ends when the client leaves."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            client.close()
            return
        raw = message.get("text") or message.get("bytes") or ""
        if len(raw) > MAX_COMMAND_BYTES:
            client.drop("command_too_large")
            return
        client.notify(_encode(_apply(hub, client, raw)))


def _apply(hub: PushHub, client: PushClient, raw: str | bytes) -> dict[str, Any]:
    try:
        command = _decode_command(raw)
        topics = parse_topics(command.datasets)
        if command.action == "subscribe":
            hub.subscribe(client, topics)
        else:
            hub.unsubscribe(client, topics)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        message = f"{str(exc)[:200]}; send {{'action': 'subscribe', 'datasets': [...]}}"
        return {"event": "error", "error": {"code": "bad_command", "message": message}}
    except ValidationError as exc:
        return {"event": "error", "error": {"code": exc.reason, "message": exc.detail}}
    return {"event": f"{command.action}d", "datasets": sorted(client.topics)}
