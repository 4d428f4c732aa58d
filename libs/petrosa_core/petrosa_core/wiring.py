"""Connecting a service's shared clients, each with its readiness check and its closer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import msgspec

from petrosa_core._store_metrics import counted
from petrosa_core.bus import Bus, connect
from petrosa_core.errors import BusError, ConfigError, StoreError, StoreUnavailable
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.metadata import MetadataStore
from petrosa_core.runtime import Runtime, without_credentials
from petrosa_core.settings import CoreSettings

log = logging.getLogger("petrosa.wiring")
T = TypeVar("T")
# How long a first connection may take before the log says what is being waited for.
FIRST_CONNECT_GRACE = 3.0
_BACKENDS = {"mongodb": "MongoDB", "mysql": "MySQL", "mariadb": "MariaDB", "sqlite": "SQLite"}


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
    target = "NATS at " + ",".join(without_credentials(u) for u in settings.nats_servers)

    async def is_connected() -> bool:
        if not (connected and connected[0].is_connected):
            raise BusError("not connected")
        return True

    runtime.add_check("nats", is_connected, target)
    connecting = asyncio.create_task(
        connect(
            settings.nats_url,
            name=f"petrosa-{settings.service_name}",
            security=settings,
            replicas=settings.nats_stream_replicas,
        ),
        name="nats connect",
    )
    bus = await _announced(connecting, f"waiting for {target}: not reachable yet")
    connected.append(bus)

    async def is_open() -> bool:
        # nats-py gives up for good on a fatal server error (an -ERR such as an over-long
        # protocol line); a client that is reconnecting is still open.
        return runtime.stopping.is_set() or not bus.is_closed

    runtime.add_liveness_check("nats", is_open)
    runtime.add_closer("nats", bus.drain if drain else bus.close)
    return bus


async def _announced(pending: asyncio.Task[T], waiting: str) -> T:
    """``pending``'s result; logs ``waiting`` once if it takes longer than the grace."""
    try:
        done, _ = await asyncio.wait({pending}, timeout=FIRST_CONNECT_GRACE)
        if not done:
            log.warning(waiting)
        return await pending
    except asyncio.CancelledError:
        pending.cancel()  # startup was cancelled: end the attempt before going on
        await asyncio.wait({pending})
        raise


def describe(url: str) -> str:
    """What a store URL points at, fit for a log line: ``MySQL at db:3306/meta``."""
    scheme, _, rest = url.partition("://")
    backend = _BACKENDS.get(scheme.split("+")[0].lower(), scheme)
    if backend == "SQLite":
        return f"SQLite at {rest.removeprefix('/') or ':memory:'}"
    parts = urlsplit(without_credentials(url))
    default_port = ":3306" if backend in ("MySQL", "MariaDB") and not parts.port else ""
    path = parts.path if backend != "MongoDB" else ""
    return f"{backend} at {parts.netloc}{default_port}{path}"


async def open_store(variable: str, url: str, opener: Callable[[str], Awaitable[T]]) -> T:
    """Open a store; one that cannot be reached at start is a setting to fix: ConfigError."""
    try:
        return await opener(url)
    except StoreUnavailable as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        verb = "open" if url.startswith("sqlite") else "reach"
        raise ConfigError(f"{variable}: cannot {verb} {describe(url)}: {reason}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{variable}: {exc}") from exc


async def open_stores(runtime: Runtime, settings: CoreSettings, *, scans: bool = False) -> Stores:
    """Open (and migrate) both stores; readiness pings each, naming the store and its host.

    A store that cannot be opened ends startup naming its variable; MongoDB connects
    lazily, so one that is away at start is logged, and readiness waits for it. A service
    that ``scans`` starts the market store's columnar readers now (SQLite's reader
    processes take seconds on a busy machine), so that its first read does not wait.
    """
    market_url, metadata_url = settings.market_store_url, settings.metadata_store_url
    market = await open_store(settings.url_variable("market"), market_url, open_market_store)
    runtime.add_closer("market_store", market.close)
    runtime.add_check("market_store", answers(market.ping), describe(market_url))
    metadata = await open_store(settings.url_variable("metadata"), metadata_url, MetadataStore.open)
    runtime.add_closer("metadata_store", metadata.close)
    runtime.add_check("metadata_store", answers(metadata.ping), describe(metadata_url))
    for name in ("market_store", "metadata_store"):
        if reason := await runtime.failing_check(name):
            log.warning("%s; readiness waits for it", reason, extra={"check": name})
    if scans:
        try:
            await market.warm()
        except StoreError as exc:  # the first scan starts them again; readiness reports the store
            log.warning("columnar readers did not start: %s", exc)
    return Stores(counted(market, "market"), counted(metadata, "metadata"))


def answers(ping: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[bool]]:
    """A readiness check that passes while ``ping`` succeeds; its error is the reason."""

    async def check() -> bool:
        await ping()
        return True

    return check
