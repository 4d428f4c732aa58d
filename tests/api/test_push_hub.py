"""The fan-out hub on its own: queues stay bounded, a full one drops only its client, and
the replay window answers resumes exactly."""

from __future__ import annotations

import asyncio

import pytest

from petrosa_api.push_hub import MAX_TOPICS, PushEvent, PushHub, parse_topics
from petrosa_core.errors import ValidationError

TOPIC = "candles:BTCUSDT:1m"


def ids(events: list[PushEvent]) -> list[int]:
    return [e.seq for e in events]


async def test_a_full_queue_drops_that_client_and_no_other() -> None:
    hub = PushHub(queue_limit=3, window=30, window_events=100)
    slow, fast = hub.connect("sse"), hub.connect("ws")
    hub.subscribe(slow, {TOPIC})
    hub.subscribe(fast, {TOPIC})
    for n in range(3):
        hub.publish(TOPIC, "candles", b'{"n":%d}' % n)
        fast.take()
    hub.publish(TOPIC, "candles", b'{"n":3}')
    assert slow.dropped == "slow_consumer" and list(slow.queue) == []
    assert fast.dropped is None and [e.seq for e in fast.take()[1]] == [4]
    hub.publish(TOPIC, "candles", b'{"n":4}')
    assert list(slow.queue) == [] and slow.topics == set()  # no longer fed
    hub.disconnect(slow)
    hub.disconnect(slow)  # twice is harmless
    assert hub.connected == 1


async def test_events_are_encoded_once_for_both_protocols() -> None:
    hub = PushHub(queue_limit=10, window=30, window_events=100)
    client = hub.connect("sse")
    hub.subscribe(client, {TOPIC})
    hub.publish(TOPIC, "candles", b'{"open":1.5}')
    [event] = client.take()[1]
    assert event.sse == f'id: {hub.id}-1\nevent: candles\ndata: {{"open":1.5}}\n\n'.encode()
    assert (
        event.ws
        == (
            f'{{"event":"candles","dataset":"{TOPIC}","id":"{hub.id}-1","data":{{"open":1.5}}}}'
        ).encode()
    )


async def test_a_resume_sends_what_followed_and_refuses_what_was_forgotten() -> None:
    hub = PushHub(queue_limit=10, window=30, window_events=5)
    for n in range(8):
        hub.publish(TOPIC if n % 2 == 0 else "trades:BTCUSDT", "x", b"%d" % n)
    held = hub.resume(f"{hub.id}-4", {TOPIC})
    assert (held.reset, ids(held.events)) == (None, [5, 7])
    assert hub.resume(f"{hub.id}-2", {TOPIC}).reset == "outside_replay_window"
    assert hub.resume(f"{hub.id}-99", {TOPIC}).reset == "outside_replay_window"
    assert hub.resume(f"{hub.id}-8", {TOPIC}).events == []
    for bad in ("otherhub-4", "", "-", f"{hub.id}-x", f"{hub.id}-4-4"):
        assert hub.resume(bad, {TOPIC}).reset == "unknown_event_id"


async def test_events_older_than_the_window_are_forgotten() -> None:
    hub = PushHub(queue_limit=10, window=0.05, window_events=100)
    hub.publish(TOPIC, "x", b"1")
    await asyncio.sleep(0.06)
    hub.publish(TOPIC, "x", b"2")
    assert hub.resume(f"{hub.id}-0", {TOPIC}).reset == "outside_replay_window"
    assert ids(hub.resume(f"{hub.id}-1", {TOPIC}).events) == [2]


async def test_a_topic_is_wanted_while_subscribed_and_for_the_window_after() -> None:
    hub = PushHub(queue_limit=10, window=30, window_events=100)
    assert not hub.wants(TOPIC)
    client = hub.connect("sse")
    hub.subscribe(client, {TOPIC})
    assert hub.wants(TOPIC)
    hub.disconnect(client)
    assert hub.wants(TOPIC)  # a resume may still ask for it
    assert not PushHub(queue_limit=10, window=0, window_events=100).wants(TOPIC)


def test_topics_are_checked_and_bounded() -> None:
    assert parse_topics(["candles:btcusdt:1m", " jobs ", "", "health"]) == {
        "candles:BTCUSDT:1m",
        "jobs",
        "health",
    }
    with pytest.raises(ValidationError):
        parse_topics([f"trades:S{i}USDT" for i in range(MAX_TOPICS + 1)])
    with pytest.raises(ValidationError):
        parse_topics(["candles:BTCUSDT"])
    hub = PushHub(queue_limit=10, window=30, window_events=100)
    client = hub.connect("ws")
    hub.subscribe(client, {f"trades:S{i}USDT" for i in range(MAX_TOPICS)})
    with pytest.raises(ValidationError):
        hub.subscribe(client, {"jobs"})
