"""Connecting a service's shared clients, each with its readiness check and its closer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec

from petrosa_core.bus import Bus, connect
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.metadata import MetadataStore
from petrosa_core.runtime import Runtime
from petrosa_core.settings import CoreSettings


class Stores(msgspec.Struct, frozen=True):
    market: MarketStore
    metadata: MetadataStore


async def connect_bus(runtime: Runtime, settings: CoreSettings, *, drain: bool = False) -> Bus:
    """Connect to NATS, waiting as long as it takes; readiness follows the connection.

    The check is registered before connecting, so readiness names NATS while it is away.
    Liveness fails once the client is closed for good outside shutdown: only a restart
    brings such a process back. ``drain=True`` closes by draining, which flushes what was
    published during shutdown.
    """
    connected: list[Bus] = []

    async def is_connected() -> bool:
        return bool(connected) and connected[0].is_connected

    runtime.add_check("nats", is_connected)
    bus = await connect(
        settings.nats_url, name=f"petrosa-{settings.service_name}", security=settings
    )
    connected.append(bus)

    async def is_open() -> bool:
        # nats-py gives up for good on a fatal server error (an -ERR such as an over-long
        # protocol line); a client that is reconnecting is still open.
        return runtime.stopping.is_set() or not bus.client.is_closed

    runtime.add_liveness_check("nats", is_open)
    runtime.add_closer("nats", bus.drain if drain else bus.close)
    return bus


async def open_stores(runtime: Runtime, settings: CoreSettings) -> Stores:
    """Open (and migrate) both stores; readiness pings each of them."""
    market = await open_market_store(settings.market_store_url)
    runtime.add_closer("market_store", market.close)
    runtime.add_check("market_store", answers(market.ping))
    metadata = await MetadataStore.open(settings.metadata_store_url)
    runtime.add_closer("metadata_store", metadata.close)
    runtime.add_check("metadata_store", answers(metadata.ping))
    return Stores(market, metadata)


def answers(ping: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[bool]]:
    """A readiness check that passes while ``ping`` succeeds; its error is the reason."""

    async def check() -> bool:
        await ping()
        return True

    return check
