"""JetStream provisioning, idempotent and safe from several processes at once: streams,
durable pull consumers and key-value buckets; and binding what services consume.
"""

from __future__ import annotations

import logging
from typing import Literal, NamedTuple

import nats.js.errors
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
from nats.js.kv import KeyValue as NatsKeyValue

from petrosa_core.bus._connection import Bus
from petrosa_core.bus._errors import as_bus_error
from petrosa_core.bus._kv import KeyValue
from petrosa_core.bus._messages import PullConsumer

log = logging.getLogger("petrosa_core.bus")

# JetStream refuses a stream create that differs from the existing stream with this code.
STREAM_NAME_IN_USE = 10058

Storage = StorageType | Literal["file", "memory"]


async def ensure_stream(
    bus: Bus,
    name: str,
    subjects: list[str],
    *,
    storage: Storage = StorageType.FILE,
    max_age: float | None = None,
    max_bytes: int | None = None,
    max_msgs: int | None = None,
    retention: RetentionPolicy = RetentionPolicy.LIMITS,
    discard: DiscardPolicy = DiscardPolicy.OLD,
    replicas: int | None = None,
) -> StreamInfo:
    """Create stream ``name`` or bring it to this config; ``None`` limits mean unlimited.

    ``replicas`` defaults to the connection's (``NATS_STREAM_REPLICAS``); JetStream moves a
    live stream between replica counts in place. Safe to call from several processes at
    once; storage type cannot change in place.
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
        num_replicas=replicas or bus.replicas,
    )
    js = bus.js
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
    bus: Bus,
    stream: str,
    durable: str,
    *,
    filter_subject: str | None = None,
    max_ack_pending: int = 1000,
    ack_wait: float = 30.0,
    max_deliver: int = -1,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
    replicas: int = 0,
) -> ConsumerInfo:
    """Create durable pull consumer ``durable`` with explicit ack, or update its settings.

    ``replicas`` 0 keeps the consumer's state on as many servers as its stream.
    """
    desired = ConsumerConfig(
        durable_name=durable,
        num_replicas=replicas,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=deliver_policy,
        filter_subject=filter_subject,
        max_ack_pending=max_ack_pending,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
    )
    js = bus.js
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
    # The server reports an inherited replica count as 0, an explicit one as given.
    return (
        (current.num_replicas or 0) != (desired.num_replicas or 0)
        or (current.filter_subject or None) != desired.filter_subject
        or _seconds_differ(current.ack_wait, desired.ack_wait)
        or any(getattr(current, f) != getattr(desired, f) for f in fields)
    )


async def bind_pull_consumer(bus: Bus, stream: str, durable: str) -> PullConsumer:
    """Consume durable pull consumer ``durable`` of ``stream`` (see ``ensure_pull_consumer``)."""
    with as_bus_error(f"bind consumer {durable} on {stream}"):
        subscription = await bus.js.pull_subscribe_bind(durable=durable, stream=stream)
    return PullConsumer(subscription, durable)


async def open_kv(bus: Bus, bucket: str) -> KeyValue | None:
    """Key-value bucket ``bucket`` as it is, or None when nobody created it."""
    with as_bus_error(f"open key-value bucket {bucket}"):
        try:
            return KeyValue(await bus.js.key_value(bucket), bucket)
        except nats.js.errors.BucketNotFoundError:
            return None


async def ensure_kv(
    bus: Bus,
    bucket: str,
    *,
    ttl: float | None,
    history: int = 1,
    storage: Storage = StorageType.FILE,
    replicas: int | None = None,
) -> KeyValue:
    """Open key-value bucket ``bucket``, creating it or updating its TTL, history, replicas.

    ``replicas`` defaults to the connection's (``NATS_STREAM_REPLICAS``).
    """
    shape = _Bucket(ttl, history, StorageType(storage), replicas or bus.replicas)
    with as_bus_error(f"ensure key-value bucket {bucket}"):
        kv = await _ensure_kv(bus.js, bucket, shape)
    return KeyValue(kv, bucket)


class _Bucket(NamedTuple):
    ttl: float | None
    history: int
    storage: StorageType
    replicas: int


async def _ensure_kv(js: JetStreamContext, bucket: str, shape: _Bucket) -> NatsKeyValue:
    try:
        kv = await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        return await _create_kv(js, bucket, shape)
    status = await kv.status()
    config = status.stream_info.config
    if (
        status.history == shape.history
        and not _seconds_differ(status.ttl, shape.ttl)
        and (config.num_replicas or 1) == shape.replicas
    ):
        return kv
    ttl, history = shape.ttl, shape.history
    log.info(
        "updating key-value bucket %s: ttl=%s history=%s replicas=%s",
        bucket,
        ttl,
        history,
        shape.replicas,
    )
    config.max_age = ttl or 0.0
    config.max_msgs_per_subject = history
    config.num_replicas = shape.replicas
    # JetStream requires the duplicate window to fit inside the max age.
    config.duplicate_window = min(120.0, ttl) if ttl else 120.0
    await js.update_stream(config)
    return kv


async def _create_kv(js: JetStreamContext, bucket: str, shape: _Bucket) -> NatsKeyValue:
    try:
        return await js.create_key_value(
            bucket=bucket,
            ttl=shape.ttl,
            history=shape.history,
            storage=shape.storage,
            replicas=shape.replicas,
        )
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
    # Another process created it first with other settings: converge on ours.
    return await _ensure_kv(js, bucket, shape)
