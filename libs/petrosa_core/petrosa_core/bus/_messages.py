"""Messages as services see them: received, pulled from JetStream, or read back from a stream.

Each wraps nats-py's message in a slotted object and raises only ``BusError``s. A pulled
message costs one small object: the ingestor handles thousands a second.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js.client import JetStreamContext

from petrosa_core.bus._errors import NATS_FAILURES, as_bus_error, translated

# ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``; the newer form
# adds a domain and an account hash after ``ACK`` (and may end with a token).
_V1_ACK_TOKENS = 9
_V1_DELIVERED, _V2_DELIVERED = 4, 6
_V2_TIMESTAMP = 9


class Message:
    """A core NATS message; ``respond`` answers it when it is a request."""

    __slots__ = ("_msg", "data", "subject")

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self.data = msg.data
        self.subject = msg.subject

    @property
    def is_request(self) -> bool:
        return bool(self._msg.reply)

    @property
    def headers(self) -> dict[str, str]:
        """The message's headers (trace context, request id, reasons); empty when none."""
        return dict(self._msg.headers or {})

    async def respond(self, payload: bytes) -> None:
        """Answer the request; a message that asked for no answer is left alone.

        nats-py sends the request's headers back with the answer: its request id included.
        """
        if not self._msg.reply:
            return
        with as_bus_error(f"answer a request on {self.subject}"):
            await self._msg.respond(payload)


class Subscription:
    """Messages on one subject: iterate over them, or wait for the next one."""

    def __init__(self, subscription: NatsSubscription, subject: str) -> None:
        self._subscription = subscription
        self.subject = subject

    async def __aiter__(self) -> AsyncIterator[Message]:
        async for msg in self._subscription.messages:
            yield Message(msg)

    async def next(self, within: float) -> Message:
        """The next message; ``BusTimeout`` if none comes within ``within`` seconds."""
        with as_bus_error(f"wait for a message on {self.subject}"):
            return Message(await self._subscription.next_msg(timeout=within))

    async def unsubscribe(self) -> None:
        with as_bus_error(f"unsubscribe from {self.subject}"):
            await self._subscription.unsubscribe()


class PulledMessage:
    """A message pulled from a JetStream consumer; settle it with one of the acks."""

    __slots__ = ("_msg", "data", "subject")

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self.data = msg.data
        self.subject = msg.subject

    # Plain try blocks rather than ``as_bus_error``: a context manager per ack is measurable.
    async def ack(self) -> None:
        """Done: JetStream never delivers it again."""
        try:
            await self._msg.ack()
        except NATS_FAILURES as exc:
            raise translated(exc, "ack a message") from exc

    async def nak(self, delay: float | None = None) -> None:
        """Not done: deliver it again, after ``delay`` seconds if given."""
        try:
            await self._msg.nak(delay=delay)
        except NATS_FAILURES as exc:
            raise translated(exc, "nak a message") from exc

    async def term(self) -> None:
        """Never deliver it again, though it was not handled (it was dead-lettered)."""
        try:
            await self._msg.term()
        except NATS_FAILURES as exc:
            raise translated(exc, "terminate a message") from exc

    async def in_progress(self) -> None:
        """Still being handled: restart its ack deadline."""
        try:
            await self._msg.in_progress()
        except NATS_FAILURES as exc:
            raise translated(exc, "extend a message's ack deadline") from exc

    @property
    def deliveries(self) -> int:
        """How many times JetStream has delivered it (1 the first time)."""
        tokens = (self._msg.reply or "").split(".")
        index = _V1_DELIVERED if len(tokens) == _V1_ACK_TOKENS else _V2_DELIVERED
        try:
            return max(int(tokens[index]), 1)
        except (IndexError, ValueError):
            return 1

    @property
    def published_at(self) -> float:
        """When JetStream stored it (epoch seconds), read from the ack subject."""
        tokens = (self._msg.reply or "").split(".")
        try:
            return int(tokens[-2] if len(tokens) == _V1_ACK_TOKENS else tokens[_V2_TIMESTAMP]) / 1e9
        except (IndexError, ValueError):
            return time.time()


class ConsumerState(msgspec.Struct, frozen=True):
    """A durable consumer's backlog: not yet delivered, and delivered but not acked."""

    pending: int
    ack_pending: int


class PullConsumer:
    """A bound durable pull consumer: fetch batches, then settle each message."""

    def __init__(self, subscription: JetStreamContext.PullSubscription, durable: str) -> None:
        self._subscription = subscription
        self.durable = durable

    async def fetch(self, batch: int, within: float) -> list[PulledMessage]:
        """Up to ``batch`` messages, waiting at most ``within`` seconds; [] when none came."""
        try:
            messages = await self._subscription.fetch(batch, timeout=within)
        except TimeoutError:  # nothing to deliver in time: not a failure
            return []
        except NATS_FAILURES as exc:
            raise translated(exc, f"fetch from consumer {self.durable}") from exc
        return [PulledMessage(msg) for msg in messages]

    async def state(self) -> ConsumerState:
        with as_bus_error(f"read consumer {self.durable}"):
            info = await self._subscription.consumer_info()
        return ConsumerState(info.num_pending or 0, info.num_ack_pending or 0)

    async def unsubscribe(self) -> None:
        with as_bus_error(f"unbind consumer {self.durable}"):
            await self._subscription.unsubscribe()


class StoredMessage(msgspec.Struct, frozen=True):
    """A message read back from a stream, by its sequence number."""

    seq: int
    time: datetime | None
    subject: str
    headers: dict[str, str]
    data: bytes
