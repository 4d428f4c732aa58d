"""What services do through the bus: request and answer, subscribe, pull and settle, read a
stream back, hold a key; every NATS failure arrives as the suite's own ``BusError``."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from petrosa_core.bus import (
    Bus,
    Handler,
    Message,
    PulledMessage,
    bind_pull_consumer,
    ensure_kv,
    ensure_pull_consumer,
    ensure_stream,
    open_kv,
)
from petrosa_core.errors import BusError, BusTimeout, KeyConflict, NoResponders


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def test_a_request_is_answered_by_one_member_of_a_queue_group(bus: Bus) -> None:
    subject, answered = unique("ask"), []

    def member(name: str) -> Handler:
        async def answer(msg: Message) -> None:
            answered.append(name)
            await msg.respond(name.encode() + b":" + msg.data)

        return answer

    for name in ("a", "b"):
        await bus.subscribe(subject, queue="group", handler=member(name))
    await bus.flush()

    reply = await bus.request(subject, b"hello", within=5)

    assert reply in (b"a:hello", b"b:hello")
    assert len(answered) == 1


async def test_a_request_nobody_listens_to_is_no_responders(bus: Bus) -> None:
    with pytest.raises(NoResponders, match="nobody is listening"):
        await bus.request(unique("nobody"), b"{}", within=5)


async def test_a_request_nobody_answers_in_time_is_a_bus_timeout(bus: Bus) -> None:
    subject = unique("silent")
    await bus.subscribe(subject)  # listens, never answers
    await bus.flush()

    with pytest.raises(BusTimeout, match="no answer in time"):
        await bus.request(subject, b"{}", within=0.2)


async def test_a_subscription_is_iterated_and_waited_on(bus: Bus) -> None:
    subject = unique("events")
    subscription = await bus.subscribe(subject, backlog=10)
    await bus.flush()
    await bus.publish(subject, b"one")
    await bus.publish(subject, b"two")

    first = await subscription.next(within=5)
    second = await anext(aiter(subscription))
    with pytest.raises(BusTimeout):
        await subscription.next(within=0.1)
    await subscription.unsubscribe()

    assert (first.data, second.data, first.subject, first.is_request) == (
        b"one",
        b"two",
        subject,
        False,
    )


async def test_answering_a_message_that_asked_nothing_does_nothing(bus: Bus) -> None:
    subject = unique("tell")
    subscription = await bus.subscribe(subject)
    await bus.publish(subject, b"x")

    await (await subscription.next(within=5)).respond(b"ignored")  # no reply inbox: no error


async def test_pulled_messages_are_acked_nakked_and_terminated(bus: Bus) -> None:
    stream, subject = unique("S"), unique("frames")
    await ensure_stream(bus, stream, [subject], storage="memory")
    await ensure_pull_consumer(bus, stream, "worker", filter_subject=subject, ack_wait=30)
    for payload in (b"ack", b"nak", b"term"):
        await bus.publish_to_stream(subject, payload)
    consumer = await bind_pull_consumer(bus, stream, "worker")

    first = {m.data: m for m in await consumer.fetch(3, within=5)}
    await first[b"ack"].ack()
    await first[b"nak"].in_progress()
    await first[b"nak"].nak()
    await first[b"term"].term()
    again = await consumer.fetch(3, within=5)
    await again[0].ack()
    nothing = await consumer.fetch(1, within=0.2)
    state = await consumer.state()

    assert [(m.data, m.deliveries) for m in again] == [(b"nak", 2)]
    assert nothing == []
    assert (state.pending, state.ack_pending) == (0, 0)
    with pytest.raises(BusError, match="ack a message"):
        await first[b"ack"].ack()  # nats-py refuses a second ack: translated, not leaked


async def test_publish_time_is_read_from_the_ack_subject_like_the_client_reads_it(
    bus: Bus,
) -> None:
    stream, subject = unique("S"), unique("frames")
    await ensure_stream(bus, stream, [subject], storage="memory")
    await ensure_pull_consumer(bus, stream, "probe", filter_subject=subject)
    await bus.publish_to_stream(subject, b"{}")
    raw = await bus.js.pull_subscribe_bind(durable="probe", stream=stream)

    (msg,) = await raw.fetch(1, timeout=5)
    wrapped = PulledMessage(msg)

    assert wrapped.published_at == pytest.approx(msg.metadata.timestamp.timestamp(), abs=1e-6)
    assert wrapped.deliveries == msg.metadata.num_delivered == 1


async def test_messages_are_read_back_from_a_stream_and_deleted(bus: Bus) -> None:
    stream, subject = unique("S"), unique("letters")
    await ensure_stream(bus, stream, [subject], storage="memory")
    first = await bus.publish_to_stream(subject, b"a", stream=stream, headers={"Why": "bad"})
    second = await bus.publish_to_stream(subject, b"b", stream=stream)

    read = await bus.stream_message(stream, 1, subject=subject)
    await bus.delete_stream_message(stream, first)
    after_delete = await bus.stream_message(stream, 1, subject=subject)
    past_the_end = await bus.stream_message(stream, second + 1, subject=subject)

    assert read is not None and (read.seq, read.data, read.headers["Why"]) == (first, b"a", "bad")
    assert after_delete is not None and (after_delete.seq, after_delete.data) == (second, b"b")
    assert past_the_end is None


async def test_a_key_is_created_once_and_updated_only_at_its_revision(bus: Bus) -> None:
    bucket = unique("locks")
    assert await open_kv(bus, bucket) is None
    kv = await ensure_kv(bus, bucket, ttl=5)
    revision = await kv.create("k", b"mine")

    with pytest.raises(KeyConflict):
        await kv.create("k", b"theirs")
    newer = await kv.update("k", b"mine again", last=revision)
    with pytest.raises(KeyConflict):
        await kv.update("k", b"stale", last=revision)
    await kv.delete("k", last=newer)

    assert newer > revision
    assert (await kv.get("k"), await kv.keys()) == (None, [])
    opened = await open_kv(bus, bucket)
    assert opened is not None and (await opened.status()).ttl == 5.0


async def test_a_closed_connection_fails_with_a_bus_error(bus: Bus) -> None:
    await bus.close()

    for attempt in (
        bus.publish(unique("x"), b""),
        bus.request(unique("x"), b"", within=1),
        bus.subscribe(unique("x")),
        bus.publish_to_stream(unique("x"), b""),
    ):
        with pytest.raises(BusError):
            await asyncio.wait_for(attempt, 5)


def test_the_bus_face_offers_nats_work_and_no_nats_types() -> None:
    import petrosa_core.bus as face

    assert set(face.__all__) == {
        "DEFAULT_RECONNECT_WAIT", "BucketStatus", "Bus", "ConsumerState", "Entry", "Handler",
        "KeyValue", "Message", "PullConsumer", "PulledMessage", "Storage", "StoredMessage",
        "Subscription", "bind_pull_consumer", "connect", "ensure_kv", "ensure_pull_consumer",
        "ensure_stream", "ensure_work_queue", "login_and_tls", "open_kv",
    }  # fmt: skip
    modules = {name: getattr(getattr(face, name), "__module__", "") for name in face.__all__}
    assert not [name for name, module in modules.items() if module.startswith("nats")]
