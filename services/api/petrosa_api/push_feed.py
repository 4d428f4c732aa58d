"""What the API pushes: NATS notifications turned into events for the hub.

Market updates become one event per record, rendered exactly as ``/data`` renders it;
a keys-only update's records are read from the market store (only when a client may
want them). Job, finding and health notifications are passed on as they were sent.
Each subscription handles its messages in order, so a dataset's events keep their order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec
from prometheus_client import Counter

from petrosa_api.push_hub import FINDINGS, HEALTH, JOBS, PushHub
from petrosa_api.rows import SHAPES
from petrosa_core import contracts
from petrosa_core.bus import Bus, Message, Subscription
from petrosa_core.contracts import AuditEvent, BackfillEvent, HealthUpdate, MarketUpdate
from petrosa_core.errors import BusError, ParseError, StoreError
from petrosa_core.market import MAX_LIMIT, MarketStore
from petrosa_core.models import Record

log = logging.getLogger("petrosa.api")

# Messages waiting in the API's NATS client per subscription; beyond it NATS drops more
# (counted by the bus as a slow consumer) rather than letting the API's memory grow.
BACKLOG = 20_000

BAD_NOTIFICATIONS = Counter(
    "data_manager_push_bad_notifications_total",
    "Notifications the API could not read or complete",
    ["reason"],
)

_encode = msgspec.json.Encoder().encode


class PushFeed:
    """Subscribes this replica to the notification subjects and feeds ``hub``."""

    def __init__(self, hub: PushHub, market: MarketStore) -> None:
        self.hub = hub
        self.market = market
        self.subscriptions: list[Subscription] = []

    async def start(self, bus: Bus) -> None:
        """Subscribe (no queue group: every replica serves its own clients everything)."""
        handlers = {
            contracts.MARKET_UPDATES_ALL: self.on_market_update,
            contracts.BACKFILL_EVENTS: self.on_job,
            contracts.AUDIT_EVENTS: self.on_finding,
            contracts.AUDIT_HEALTH: self.on_health,
        }
        for subject, handler in handlers.items():
            sub = await bus.subscribe(subject, backlog=BACKLOG, handler=handler)
            self.subscriptions.append(sub)

    async def on_market_update(self, msg: Message) -> None:
        try:
            update = MarketUpdate.decode(msg.data)
        except ParseError as exc:
            BAD_NOTIFICATIONS.labels(exc.reason).inc()
            log.warning("unreadable market update on %s: %s", msg.subject, exc.detail)
            return
        topic = update.dataset_id
        if not self.hub.wants(topic):
            return
        records = await self._records_of(update)
        shape = SHAPES[update.kind]
        name = update.kind.value
        for record in records:
            self.hub.publish(topic, name, _encode(shape.row(record)))
        # Let the clients' writers take this update before the next is read: a backlog of
        # updates read in one go would reach each queue as one burst.
        await asyncio.sleep(0)

    async def _records_of(self, update: MarketUpdate) -> list[Record]:
        """The update's records: inline, or read back from the store by key."""
        try:
            inline = update.inline_records()
        except ParseError as exc:
            BAD_NOTIFICATIONS.labels(exc.reason).inc()
            return []
        if inline is not None:
            return inline
        try:
            return await self._read_back(update)
        except StoreError as exc:
            BAD_NOTIFICATIONS.labels("store_error").inc()
            log.warning("records of %s not pushed: %s", update.dataset_id, exc)
            return []

    async def _read_back(self, update: MarketUpdate) -> list[Record]:
        wanted = set(update.keys)
        found: dict[int, Record] = {}
        cursor: str | None = None
        while True:
            page = await self.market.query(
                update.dataset,
                start=update.first_time,
                end=update.last_time + 1,
                limit=MAX_LIMIT,
                cursor=cursor,
            )
            found.update((r.key, r) for r in page.records if r.key in wanted)
            if page.next_cursor is None or len(found) == len(wanted):
                break
            cursor = page.next_cursor
        return [found[k] for k in dict.fromkeys(update.keys) if k in found]

    async def on_job(self, msg: Message) -> None:
        await self._pass_on(msg, JOBS, "job", BackfillEvent.decode)

    async def on_finding(self, msg: Message) -> None:
        await self._pass_on(msg, FINDINGS, "finding", AuditEvent.decode)

    async def on_health(self, msg: Message) -> None:
        await self._pass_on(msg, HEALTH, "health", HealthUpdate.decode)

    async def _pass_on(
        self, msg: Message, topic: str, name: str, decode: Callable[[bytes], msgspec.Struct]
    ) -> None:
        """Check the message parses as its contract, then push it re-encoded."""
        if not self.hub.wants(topic):
            return
        try:
            event = decode(msg.data)
        except ParseError as exc:
            BAD_NOTIFICATIONS.labels(exc.reason).inc()
            return
        self.hub.publish(topic, name, _encode(event))

    async def stop(self) -> None:
        for sub in self.subscriptions:
            try:
                await sub.unsubscribe()
            except BusError:
                pass  # the connection is closing anyway
