"""The fan-out of pushed events to this replica's SSE and WebSocket clients.

Every event gets a sequence number of this hub and waits in a short replay window (for
SSE's ``Last-Event-ID``). Each client has a bounded queue: the hub never waits for a
client, and a client whose queue is full is dropped (told why, then disconnected), so a
slow reader can neither grow the API's memory nor delay the others.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from petrosa_core.errors import ValidationError
from petrosa_core.models import DatasetId

# Topics beside datasets: backfill job changes, audit findings, health measurements.
JOBS, FINDINGS, HEALTH = "jobs", "findings", "health"
SPECIAL_TOPICS = (JOBS, FINDINGS, HEALTH)
# A client names a few datasets at once; a dashboard shows a page of them.
MAX_TOPICS = 100

CLIENTS = Gauge("data_manager_push_clients", "Clients connected to the push channel", ["protocol"])
EVENTS = Counter("data_manager_push_events_total", "Events pushed to this replica's clients")
DROPPED = Counter(
    "data_manager_push_clients_dropped_total",
    "Push clients disconnected by the API",
    ["protocol", "reason"],
)


class PushEvent:
    """One event, encoded once for every client: an SSE frame and a WebSocket message."""

    __slots__ = ("arrived", "name", "seq", "sse", "topic", "ws")

    def __init__(self, hub: str, seq: int, topic: str, name: str, data: bytes) -> None:
        self.seq = seq
        self.topic = topic
        self.name = name
        self.arrived = time.monotonic()
        event_id = f"{hub}-{seq}"
        self.sse = b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), name.encode(), data)
        self.ws = b'{"event":"%s","dataset":"%s","id":"%s","data":%s}' % (
            name.encode(),
            topic.encode(),
            event_id.encode(),
            data,
        )


def parse_topics(items: Iterable[str]) -> set[str]:
    """Dataset ids (``candles:BTCUSDT:1m``) and special topics; ``ValidationError`` if bad."""
    topics: set[str] = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        topics.add(item if item in SPECIAL_TOPICS else str(DatasetId.parse(item)))
        if len(topics) > MAX_TOPICS:
            raise ValidationError("too_many_datasets", f"at most {MAX_TOPICS} datasets at once")
    return topics


class PushClient:
    """One connection's subscriptions and its bounded queue of events not yet sent."""

    def __init__(self, protocol: str, limit: int) -> None:
        self.protocol = protocol
        self.limit = limit
        self.topics: set[str] = set()
        self.queue: deque[PushEvent] = deque()
        # Answers to a WebSocket client's commands, sent before the events queued after them.
        self.notices: list[bytes] = []
        self.ready = asyncio.Event()
        # Why the hub dropped this client, once it did.
        self.dropped: str | None = None
        self.closed = False
        self.registered = True
        # Called when dropped: cuts short a write the client is not reading.
        self.on_drop: Callable[[], None] | None = None

    def offer(self, event: PushEvent) -> bool:
        """Queue ``event``; False when the queue is full."""
        if len(self.queue) >= self.limit:
            return False
        self.queue.append(event)
        self.ready.set()
        return True

    def notify(self, payload: bytes) -> None:
        self.notices.append(payload)
        self.ready.set()

    def take(self) -> tuple[list[bytes], list[PushEvent]]:
        """The notices and events waiting, in the order they are to be sent."""
        notices, events = self.notices, list(self.queue)
        self.notices = []
        self.queue.clear()
        self.ready.clear()
        return notices, events

    def drop(self, reason: str) -> None:
        self.dropped = reason
        self.queue.clear()
        self.ready.set()
        if self.on_drop is not None:
            self.on_drop()

    def close(self) -> None:
        self.closed = True
        self.ready.set()


@dataclass(frozen=True)
class Resume:
    """Events to send again after a reconnect, or why that is impossible (``reset``)."""

    events: list[PushEvent]
    reset: str | None = None


class PushHub:
    """Routes events to subscribed clients and keeps the last ``window`` seconds for replay."""

    def __init__(self, queue_limit: int, window: float, window_events: int) -> None:
        self.id = secrets.token_hex(4)
        self.queue_limit = queue_limit
        self.window = window
        self.window_events = window_events
        self._seq = 0
        self._ring: deque[PushEvent] = deque()
        # The highest sequence number no longer held: a resume from before it missed events.
        self._forgotten = 0
        self._clients: dict[str, set[PushClient]] = {}
        # When each topic last lost its last subscriber: its events are kept for a resume.
        self._left: dict[str, float] = {}
        self.connected = 0
        self._all: set[PushClient] = set()

    def wants(self, topic: str) -> bool:
        """Whether anyone may ask for ``topic``'s events: subscribed now or within the window."""
        if self._clients.get(topic):
            return True
        left = self._left.get(topic)
        return left is not None and time.monotonic() - left < self.window

    def connect(self, protocol: str) -> PushClient:
        self.connected += 1
        CLIENTS.labels(protocol).inc()
        client = PushClient(protocol, self.queue_limit)
        self._all.add(client)
        return client

    def disconnect(self, client: PushClient) -> None:
        """Forget ``client``; safe to call twice."""
        if not client.registered:
            return
        client.registered = False
        self._all.discard(client)
        self.unsubscribe(client, set(client.topics))
        client.close()
        self.connected -= 1
        CLIENTS.labels(client.protocol).dec()

    def close_all(self, reason: str = "server_shutdown") -> None:
        """Tell every client to go (to reconnect elsewhere): the API is stopping."""
        for client in list(self._all):
            client.drop(reason)

    def subscribe(self, client: PushClient, topics: set[str]) -> None:
        if len(client.topics | topics) > MAX_TOPICS:
            raise ValidationError("too_many_datasets", f"at most {MAX_TOPICS} datasets at once")
        for topic in topics - client.topics:
            self._clients.setdefault(topic, set()).add(client)
        client.topics |= topics

    def unsubscribe(self, client: PushClient, topics: set[str]) -> None:
        now = time.monotonic()
        for topic in topics & client.topics:
            members = self._clients.get(topic, set())
            members.discard(client)
            if not members:
                self._clients.pop(topic, None)
                self._left[topic] = now
        client.topics -= topics

    def publish(self, topic: str, name: str, data: bytes) -> None:
        """Hold the event for replay and queue it for every subscriber; drop the full ones."""
        self._seq += 1
        event = PushEvent(self.id, self._seq, topic, name, data)
        self._remember(event)
        for client in list(self._clients.get(topic, ())):
            if not client.offer(event):
                DROPPED.labels(client.protocol, "slow_consumer").inc()
                self.unsubscribe(client, set(client.topics))
                client.drop("slow_consumer")
        EVENTS.inc()

    def _remember(self, event: PushEvent) -> None:
        self._ring.append(event)
        oldest = event.arrived - self.window
        while self._ring and (
            len(self._ring) > self.window_events or self._ring[0].arrived < oldest
        ):
            self._forgotten = self._ring.popleft().seq
        for topic in [t for t, left in self._left.items() if left < oldest]:
            del self._left[topic]

    def resume(self, last_event_id: str, topics: set[str]) -> Resume:
        """The held events of ``topics`` after ``last_event_id``, or why they cannot be known."""
        hub, _, seq_text = last_event_id.strip().rpartition("-")
        if hub != self.id or not seq_text.isdigit():
            return Resume([], "unknown_event_id")
        seq = int(seq_text)
        if seq < self._forgotten or seq > self._seq:
            return Resume([], "outside_replay_window")
        return Resume([e for e in self._ring if e.seq > seq and e.topic in topics])
