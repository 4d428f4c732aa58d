"""One NATS connection that reconnects forever, and idempotent JetStream provisioning.

nats-py errors become ``BusError`` here, at the boundary; callers never see them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.kv import KeyValue
from prometheus_client import Counter, Gauge

from petrosa_core.errors import BusError
from petrosa_core.runtime import without_credentials
from petrosa_core.settings import NatsSettings

log = logging.getLogger(__name__)

# The original service's names: dashboards and alerts query them as they are.
NATS_CONNECTION_STATUS = Gauge(
    "data_manager_nats_connection_status", "NATS connection status (1=connected, 0=disconnected)"
)
NATS_RECONNECTIONS = Counter("data_manager_nats_reconnections_total", "NATS reconnections")
NATS_ERRORS = Counter("data_manager_nats_errors_total", "Errors reported by NATS", ["type"])

# JetStream refuses a stream create that differs from the existing stream with this code.
STREAM_NAME_IN_USE = 10058
# Short enough that a restarted server is found quickly, long enough not to hammer it.
DEFAULT_RECONNECT_WAIT = 2.0

Storage = StorageType | Literal["file", "memory"]


@contextmanager
def as_bus_error(action: str) -> Iterator[None]:
    """Translate any NATS failure (and a timeout) inside the block into ``BusError``."""
    try:
        yield
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        raise BusError(f"{action}: {type(exc).__name__}: {exc}") from exc


class Bus:
    """A NATS connection and its JetStream context; it reconnects until closed."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name
        self.js: JetStreamContext = client.jetstream()

    @property
    def is_connected(self) -> bool:
        return bool(self.client.is_connected)

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


async def connect(
    url: str,
    *,
    name: str,
    security: NatsSettings | None = None,
    initial_timeout: float | None = None,
    reconnect_wait: float = DEFAULT_RECONNECT_WAIT,
    connect_timeout: float = 2.0,
    ping_interval: float = 20.0,
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
    return Bus(client, name)


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


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subjects: list[str],
    *,
    storage: Storage = StorageType.FILE,
    max_age: float | None = None,
    max_bytes: int | None = None,
    max_msgs: int | None = None,
    retention: RetentionPolicy = RetentionPolicy.LIMITS,
    discard: DiscardPolicy = DiscardPolicy.OLD,
    replicas: int = 1,
) -> StreamInfo:
    """Create stream ``name`` or bring it to this config; ``None`` limits mean unlimited.

    Safe to call from several processes at once; storage type cannot change in place.
    """
    desired = StreamConfig(
        name=name,
        subjects=subjects,
        storage=StorageType(storage),
        retention=retention,
        max_age=max_age or 0.0,
        max_bytes=max_bytes or -1,
        max_msgs=max_msgs or -1,
        discard=discard,
        num_replicas=replicas,
    )
    with as_bus_error(f"ensure stream {name}"):
        try:
            current = await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            try:
                return await js.add_stream(desired)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != STREAM_NAME_IN_USE:
                    raise
                current = await js.stream_info(name)
        if not _stream_differs(current.config, desired):
            return current
        log.info("updating stream %s to the configured limits", name)
        return await js.update_stream(desired)


def _stream_differs(current: StreamConfig, desired: StreamConfig) -> bool:
    fields = ("storage", "retention", "max_bytes", "max_msgs", "discard", "num_replicas")
    return (
        sorted(current.subjects or []) != sorted(desired.subjects or [])
        or _seconds_differ(current.max_age, desired.max_age)
        or any(getattr(current, f) != getattr(desired, f) for f in fields)
    )


def _seconds_differ(a: float | None, b: float | None) -> bool:
    # The server stores nanoseconds; nats-py's float round trip is not exact.
    return round(a or 0.0, 3) != round(b or 0.0, 3)


async def ensure_pull_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    *,
    filter_subject: str | None = None,
    max_ack_pending: int = 1000,
    ack_wait: float = 30.0,
    max_deliver: int = -1,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
) -> ConsumerInfo:
    """Create durable pull consumer ``durable`` with explicit ack, or update its settings."""
    desired = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=deliver_policy,
        filter_subject=filter_subject,
        max_ack_pending=max_ack_pending,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
    )
    with as_bus_error(f"ensure consumer {durable} on {stream}"):
        try:
            current: ConsumerInfo = await js.consumer_info(stream, durable)
        except nats.js.errors.NotFoundError:
            return await js.add_consumer(stream, desired)
        if not _consumer_differs(current.config, desired):
            return current
        log.info("updating consumer %s on %s to the configured settings", durable, stream)
        return await js.add_consumer(stream, desired)


def _consumer_differs(current: ConsumerConfig, desired: ConsumerConfig) -> bool:
    fields = ("ack_policy", "deliver_policy", "max_ack_pending", "max_deliver")
    return (
        (current.filter_subject or None) != desired.filter_subject
        or _seconds_differ(current.ack_wait, desired.ack_wait)
        or any(getattr(current, f) != getattr(desired, f) for f in fields)
    )


async def ensure_kv(
    js: JetStreamContext,
    bucket: str,
    *,
    ttl: float | None,
    history: int = 1,
    storage: Storage = StorageType.FILE,
) -> KeyValue:
    """Open key-value bucket ``bucket``, creating it or updating its TTL and history."""
    with as_bus_error(f"ensure key-value bucket {bucket}"):
        try:
            kv = await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            return await _create_kv(js, bucket, ttl, history, StorageType(storage))
        status = await kv.status()
        if status.history == history and not _seconds_differ(status.ttl, ttl):
            return kv
        log.info("updating key-value bucket %s: ttl=%s history=%s", bucket, ttl, history)
        config = status.stream_info.config
        config.max_age = ttl or 0.0
        config.max_msgs_per_subject = history
        # JetStream requires the duplicate window to fit inside the max age.
        config.duplicate_window = min(120.0, ttl) if ttl else 120.0
        await js.update_stream(config)
        return kv


async def _create_kv(
    js: JetStreamContext, bucket: str, ttl: float | None, history: int, storage: StorageType
) -> KeyValue:
    try:
        return await js.create_key_value(bucket=bucket, ttl=ttl, history=history, storage=storage)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
    # Another process created it first with other settings: converge on ours.
    return await ensure_kv(js, bucket, ttl=ttl, history=history, storage=storage)
