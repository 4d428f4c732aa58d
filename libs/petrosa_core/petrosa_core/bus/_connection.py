"""One NATS connection that reconnects forever, and what services do with it.

``Bus`` publishes, requests, subscribes and answers; JetStream work goes through
``_jetstream``. Every nats-py error is translated in ``_errors``; callers see ``BusError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge

from petrosa_core.bus._errors import as_bus_error
from petrosa_core.bus._messages import Message, StoredMessage, Subscription
from petrosa_core.errors import BusError
from petrosa_core.runtime import without_credentials
from petrosa_core.settings import NatsSettings
from petrosa_core.tracing import incoming, outgoing_headers, tracer

log = logging.getLogger("petrosa_core.bus")

# The original service's names: dashboards and alerts query them as they are.
NATS_CONNECTION_STATUS = Gauge(
    "data_manager_nats_connection_status", "NATS connection status (1=connected, 0=disconnected)"
)
NATS_RECONNECTIONS = Counter("data_manager_nats_reconnections_total", "NATS reconnections")
NATS_ERRORS = Counter("data_manager_nats_errors_total", "Errors reported by NATS", ["type"])

# Short enough that a restarted server is found quickly, long enough not to hammer it.
DEFAULT_RECONNECT_WAIT = 2.0
# How long a publish into a stream waits for the stream's acknowledgement.
STREAM_PUBLISH_TIMEOUT = 5.0

Handler = Callable[[Message], Awaitable[None]]


class Bus:
    """A NATS connection that reconnects until closed; every failure is a ``BusError``.

    ``client`` and ``js`` are nats-py's own objects, for the bus package and for tests.
    ``replicas`` is how many servers of a JetStream cluster keep each stream and bucket
    this connection creates (``NATS_STREAM_REPLICAS``), unless a call names its own.
    """

    def __init__(self, client: Client, name: str, *, replicas: int = 1) -> None:
        self.client = client
        self.name = name
        self.replicas = replicas
        self.js: JetStreamContext = client.jetstream()

    @property
    def is_connected(self) -> bool:
        return bool(self.client.is_connected)

    @property
    def is_closed(self) -> bool:
        """Closed for good: by us, or by nats-py after a fatal server error."""
        return bool(self.client.is_closed)

    @property
    def max_payload(self) -> int:
        """The largest message the server takes, in bytes."""
        return int(self.client.max_payload)

    @property
    def server(self) -> str | None:
        """``host:port`` of the server connected to, if any."""
        url = self.client.connected_url
        return f"{url.hostname}:{url.port}" if url else None

    @property
    def stats(self) -> dict[str, int]:
        """Messages and bytes in and out, reconnections, errors: nats-py's counters."""
        return {name: int(value) for name, value in self.client.stats.items()}

    async def publish(
        self, subject: str, payload: bytes = b"", *, headers: dict[str, str] | None = None
    ) -> None:
        """Publish; the current trace context and request id travel in the headers."""
        with as_bus_error(f"publish on {subject}"):
            await self.client.publish(subject, payload, headers=outgoing_headers(headers))

    async def request(self, subject: str, payload: bytes, *, within: float) -> bytes:
        """The answer's payload; ``NoResponders``, or ``BusTimeout`` after ``within`` seconds.

        A client span covers the round trip; its context and the request id go with it.
        """
        with (
            tracer.start_as_current_span(f"{subject} request", kind=SpanKind.CLIENT),
            as_bus_error(f"request on {subject}"),
        ):
            headers = outgoing_headers()
            return (await self.client.request(subject, payload, within, headers=headers)).data

    async def subscribe(
        self,
        subject: str,
        *,
        queue: str = "",
        backlog: int | None = None,
        handler: Handler | None = None,
    ) -> Subscription:
        """Messages on ``subject``: handed to ``handler`` one by one, or iterated over.

        ``queue`` shares them among the group's members; past ``backlog`` waiting messages
        NATS drops more (a requester then times out).
        """
        options: dict[str, Any] = {"queue": queue}
        if backlog is not None:
            options["pending_msgs_limit"] = backlog
        if handler is not None:
            options["cb"] = _delivering_to(handler)
        with as_bus_error(f"subscribe to {subject}"):
            return Subscription(await self.client.subscribe(subject, **options), subject)

    async def flush(self, within: float = 10.0) -> None:
        """Wait until the server has everything published so far."""
        with as_bus_error("flush"):
            await self.client.flush(timeout=within)  # type: ignore[arg-type]

    async def publish_to_stream(
        self,
        subject: str,
        payload: bytes,
        *,
        stream: str | None = None,
        headers: dict[str, str] | None = None,
        ack_within: float = STREAM_PUBLISH_TIMEOUT,
    ) -> int:
        """Publish and wait until a stream (``stream``, if named) stored it; its sequence."""
        with as_bus_error(f"publish into a stream on {subject}"):
            ack = await self.js.publish(
                subject, payload, timeout=ack_within, stream=stream, headers=headers
            )
        return int(ack.seq)

    async def stream_message(
        self, stream: str, seq: int, *, subject: str | None = None
    ) -> StoredMessage | None:
        """The first message of ``stream`` at or after ``seq`` (on ``subject``), or None."""
        with as_bus_error(f"read stream {stream}"):
            try:
                raw = await self.js.get_msg(stream, seq, subject=subject, next=True)
            except nats.js.errors.NotFoundError:
                return None
        return StoredMessage(
            seq=raw.seq or seq,
            time=raw.time,
            subject=raw.subject or "",
            headers=dict(raw.headers or {}),
            data=raw.data or b"",
        )

    async def delete_stream_message(self, stream: str, seq: int) -> None:
        with as_bus_error(f"delete message {seq} of stream {stream}"):
            await self.js.delete_msg(stream, seq)

    async def drain(self) -> None:
        """Let subscriptions finish what they hold, flush publishes, then close."""
        if self.client.is_closed:
            return
        with as_bus_error(f"drain NATS connection {self.name}"):
            await self.client.drain()

    async def close(self) -> None:
        if not self.client.is_closed:
            await self.client.close()

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _delivering_to(handler: Handler) -> Callable[[Msg], Awaitable[None]]:
    """Each message handled in a span of its sender's trace, with the sender's request id."""

    async def deliver(msg: Msg) -> None:
        with incoming(msg.headers, f"{msg.subject} receive"):
            await handler(Message(msg))

    return deliver


async def connect(
    url: str,
    *,
    name: str,
    security: NatsSettings | None = None,
    initial_timeout: float | None = None,
    reconnect_wait: float = DEFAULT_RECONNECT_WAIT,
    connect_timeout: float = 2.0,
    ping_interval: float = 20.0,
    replicas: int = 1,
) -> Bus:
    """Connect to ``url`` (comma-separated servers allowed), retrying until ``initial_timeout``.

    ``security`` carries the login and TLS settings. A server that refuses the login fails
    the call at once; once connected the client reconnects forever. ``None`` waits for good.
    """
    client = Client()
    callbacks = _StateCallbacks(client, name)
    servers = [part.strip() for part in url.split(",") if part.strip()]
    shown = ",".join(without_credentials(server) for server in servers)
    try:
        async with asyncio.timeout(initial_timeout):
            await client.connect(
                servers,
                name=name,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=reconnect_wait,  # type: ignore[arg-type]
                connect_timeout=connect_timeout,  # type: ignore[arg-type]
                ping_interval=ping_interval,  # type: ignore[arg-type]
                error_cb=callbacks.error,
                disconnected_cb=callbacks.disconnected,
                reconnected_cb=callbacks.reconnected,
                closed_cb=callbacks.closed,
                **(login_and_tls(security) if security else {}),
            )
    except _LoginRefused as refused:
        await client.close()
        raise BusError(f"NATS at {shown} refused the login of {name}: {refused}") from None
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        await client.close()
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if callbacks.last_error:
            detail += f" (last error: {callbacks.last_error})"
        raise BusError(f"cannot connect to NATS at {shown}: {detail}") from exc
    except asyncio.CancelledError:
        await client.close()
        raise
    callbacks.connecting = False
    NATS_CONNECTION_STATUS.set(1)
    log.info("NATS connection %s established", name)
    return Bus(client, name, replicas=replicas)


def login_and_tls(settings: NatsSettings) -> dict[str, Any]:
    """nats-py's ``connect`` options for the login and TLS that ``settings`` name."""
    options: dict[str, Any] = {}
    if settings.nats_user and settings.nats_password is not None:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password.get_secret_value()
    if settings.nats_token is not None:
        options["token"] = settings.nats_token.get_secret_value()
    if settings.nats_nkey_seed_file is not None:
        options["nkeys_seed"] = str(settings.nats_nkey_seed_file)
    if settings.nats_creds_file is not None:
        options["user_credentials"] = str(settings.nats_creds_file)
    if (context := settings.nats_tls_context()) is not None:
        options["tls"] = context
    if settings.nats_tls_hostname:
        options["tls_hostname"] = settings.nats_tls_hostname
    return options


class _LoginRefused(Exception):
    """The server said no to our credentials; retrying them cannot help."""


class _StateCallbacks:
    """nats-py connection callbacks: log each change and keep the status gauge true."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name
        self.connecting = True
        self.last_error = ""

    async def error(self, exc: Exception) -> None:
        NATS_ERRORS.labels(type=type(exc).__name__).inc()
        log.warning("NATS error on %s: %s: %s", self.name, type(exc).__name__, exc)
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.connecting and _is_login_refusal(exc):
            # nats-py retries a refused first login forever; raising here ends its loop.
            raise _LoginRefused(str(exc))

    async def disconnected(self) -> None:
        NATS_CONNECTION_STATUS.set(0)
        if not self.client.is_closed:  # nats-py also reports a deliberate close here
            log.warning("NATS connection %s lost; reconnecting", self.name)

    async def reconnected(self) -> None:
        NATS_CONNECTION_STATUS.set(1)
        NATS_RECONNECTIONS.inc()
        log.info("NATS connection %s re-established", self.name)

    async def closed(self) -> None:
        NATS_CONNECTION_STATUS.set(0)
        log.info("NATS connection %s closed", self.name)


def _is_login_refusal(exc: Exception) -> bool:
    # On the first connect nats-py reports the server's -ERR as a plain Error.
    return isinstance(exc, nats.errors.AuthorizationError) or (
        "authorization violation" in str(exc).lower()
    )
