"""Leader election on a JetStream key-value lease in bucket ``petrosa_leases``.

Acquire with ``create``, renew with ``update(last=revision)``; any failed renewal ends the
term at once. A leader also trusts its lease only until the start of its last successful
acquire or renewal plus the timeout minus a safety margin, so a leader whose renewals
stall steps down on its own clock before the server lets anyone else take the lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import msgspec
from prometheus_client import Counter, Gauge

from petrosa_core.bus import Bus, KeyValue, ensure_kv, open_kv
from petrosa_core.errors import BusError, ConfigError, KeyConflict, LeadershipLost

if TYPE_CHECKING:
    from petrosa_core.settings import CoreSettings

log = logging.getLogger(__name__)

LEASE_BUCKET = "petrosa_leases"
RESIGNED = "resigned"

IS_LEADER = Gauge("data_manager_leader_status", "1 while this process leads the lease", ["lease"])
LEADERSHIP_CHANGES = Counter(
    "data_manager_leadership_changes_total", "Terms this process began or ended", ["lease"]
)

Work = Callable[[int], Coroutine[Any, Any, None]]


class Lease(msgspec.Struct, frozen=True):
    """Who holds lease ``name`` now, at which KV revision."""

    name: str
    holder: str
    revision: int


def default_identity() -> str:
    """``host:pid:nonce``: unique per elector, readable in /health/leader."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def open_lease_bucket(bus: Bus, lease_ttl: float, bucket: str = LEASE_BUCKET) -> KeyValue:
    """Open the lease bucket, creating it with TTL ``lease_ttl`` or raising a shorter TTL.

    The TTL is never lowered: running leaders sized their local deadline by the old one.
    """
    kv = await open_kv(bus, bucket)
    if kv is None:
        return await ensure_kv(bus, bucket, ttl=lease_ttl)
    ttl = (await kv.status()).ttl
    if ttl and ttl >= lease_ttl:
        if ttl > lease_ttl:
            log.warning(
                "lease bucket %s keeps its longer TTL %.1fs (configured %.1fs)",
                bucket,
                ttl,
                lease_ttl,
            )
        return kv
    return await ensure_kv(bus, bucket, ttl=lease_ttl)


async def current_holder(kv: KeyValue, name: str) -> Lease | None:
    """The live lease ``name``, or None when nobody holds it."""
    entry = await kv.get(name)
    if entry is None:
        return None
    return Lease(name=name, holder=entry.value.decode(), revision=entry.revision)


async def list_leases(kv: KeyValue) -> list[Lease]:
    """Every live lease in the bucket, by name."""
    leases = [await current_holder(kv, name) for name in await kv.keys()]
    return [lease for lease in leases if lease is not None]


async def lease_holders(bus: Bus, bucket: str = LEASE_BUCKET) -> list[Lease]:
    """Every live lease, for /health/leader; empty when no elector ever ran."""
    kv = await open_kv(bus, bucket)
    return [] if kv is None else await list_leases(kv)


class LeaderElector:
    """Campaigns for one lease; ``run()`` is the supervised task, ``is_leader`` the belief.

    ``fencing_token`` is the KV revision at which the current term began: it only grows
    from term to term, so work stamped with it can be fenced off after a hand-over.
    """

    def __init__(
        self,
        bus: Bus,
        name: str,
        *,
        heartbeat: float,
        timeout: float,
        identity: str | None = None,
        safety_margin: float | None = None,
        bucket: str = LEASE_BUCKET,
        on_elected: Callable[[int], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        # A tenth of the lease absorbs scheduling delay between a belief check and its use.
        margin = timeout / 10 if safety_margin is None else safety_margin
        if not 0 < heartbeat < timeout - margin or margin < 0:
            raise ConfigError(
                "LEADER_ELECTION_HEARTBEAT_INTERVAL must be shorter than "
                f"LEADER_ELECTION_TIMEOUT minus its safety margin ({heartbeat=}, {timeout=})"
            )
        self.name = name
        self.identity = identity or default_identity()
        self._bus, self._bucket = bus, bucket
        self._heartbeat, self._timeout, self._term = heartbeat, timeout, timeout - margin
        self._on_elected, self._on_lost = on_elected, on_lost
        self._kv: KeyValue | None = None
        self._revision: int | None = None
        self._token: int | None = None
        self._valid_until = 0.0
        self._holder: str | None = None
        self._standing = True
        self._leading = asyncio.Event()
        self._following = asyncio.Event()
        self._following.set()

    @classmethod
    def from_settings(cls, bus: Bus, name: str, settings: CoreSettings) -> LeaderElector:
        return cls(
            bus,
            name,
            heartbeat=settings.leader_election_heartbeat_interval,
            timeout=settings.leader_election_timeout,
        )

    @property
    def is_leader(self) -> bool:
        return self._revision is not None and time.monotonic() < self._valid_until

    @property
    def fencing_token(self) -> int | None:
        return self._token if self.is_leader else None

    @property
    def valid_until(self) -> float | None:
        """The ``time.monotonic()`` instant the current term ends unless renewed."""
        return self._valid_until if self.is_leader else None

    @property
    def leader_id(self) -> str | None:
        """Our identity while we lead, else the holder last seen (None if unknown)."""
        return self.identity if self.is_leader else self._holder

    def require(self, token: int) -> None:
        """Raise ``LeadershipLost`` unless the term stamped ``token`` is still ours."""
        if self.fencing_token != token:
            raise LeadershipLost(f"lease {self.name}: term {token} is over")

    async def wait_elected(self) -> int:
        """Wait until this process leads; return the term's fencing token."""
        while True:
            await self._leading.wait()
            if (token := self.fencing_token) is not None:
                return token
            await self._following.wait()

    async def wait_lost(self) -> None:
        await self._following.wait()

    async def run(self, work: Work | None = None) -> None:
        """Campaign until cancelled, running ``work(token)`` during each term; resign on exit."""
        self._kv = await open_lease_bucket(self._bus, self._timeout, self._bucket)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._campaign(self._kv), name=f"lease-{self.name}-campaign")
                if work is not None:
                    tg.create_task(self._lead(work), name=f"lease-{self.name}-work")
        finally:
            await self.resign()

    async def resign(self) -> bool:
        """Stop campaigning, step down, and delete the lease if it is still ours.

        Returns whether the lease was released, so a follower may take over at once.
        """
        self._standing = False
        revision = self._revision
        self._step_down(RESIGNED)
        if revision is None or self._kv is None:
            return False
        try:
            async with asyncio.timeout(self._heartbeat):
                await self._kv.delete(self.name, last=revision)
        except (BusError, TimeoutError) as exc:
            log.info("lease %s not released (%s); it expires by itself", self.name, exc)
            return False
        return True

    async def _campaign(self, kv: KeyValue) -> None:
        while True:
            started = time.monotonic()
            if self._revision is not None:
                await self._renew(kv, started)
            elif self._standing:
                await self._try_acquire(kv, started)
            await asyncio.sleep(max(0.0, started + self._heartbeat - time.monotonic()))

    async def _try_acquire(self, kv: KeyValue, started: float) -> None:
        if not self._bus.is_connected:
            return
        try:
            async with asyncio.timeout(self._heartbeat):
                revision = await kv.create(self.name, self.identity.encode())
        except KeyConflict:
            await self._observe_holder(kv)
            return
        except (BusError, TimeoutError) as exc:
            log.debug("lease %s: acquisition attempt failed: %s", self.name, exc)
            return
        self._begin_term(revision, started)

    async def _observe_holder(self, kv: KeyValue) -> None:
        try:
            async with asyncio.timeout(self._heartbeat):
                lease = await current_holder(kv, self.name)
        except Exception as exc:  # only informational: the holder is shown, never trusted
            log.debug("lease %s: holder unknown: %s", self.name, exc)
            lease = None
        self._holder = lease.holder if lease else None

    async def _renew(self, kv: KeyValue, started: float) -> None:
        budget = self._valid_until - started
        if budget <= 0 or not self._bus.is_connected or self._revision is None:
            self._step_down("NATS is unreachable" if budget > 0 else "lease ran out")
            return
        try:
            async with asyncio.timeout(budget):
                self._revision = await kv.update(
                    self.name, self.identity.encode(), last=self._revision
                )
        except Exception as exc:  # any failure at all ends the term: never lead on a doubt
            self._step_down(f"renewal failed: {type(exc).__name__}: {exc}")
            return
        self._valid_until = started + self._term

    def _begin_term(self, revision: int, started: float) -> None:
        self._revision = self._token = revision
        self._valid_until = started + self._term
        self._holder = self.identity
        IS_LEADER.labels(lease=self.name).set(1)
        LEADERSHIP_CHANGES.labels(lease=self.name).inc()
        self._following.clear()
        self._leading.set()
        log.info("elected leader of %s (token %d, identity %s)", self.name, revision, self.identity)
        self._notify(self._on_elected, revision)

    def _step_down(self, reason: str) -> None:
        if self._revision is None:
            return
        self._revision = self._token = None
        self._valid_until = 0.0
        self._holder = None
        IS_LEADER.labels(lease=self.name).set(0)
        LEADERSHIP_CHANGES.labels(lease=self.name).inc()
        self._leading.clear()
        self._following.set()
        level = logging.INFO if reason == RESIGNED else logging.WARNING
        log.log(level, "no longer leader of %s: %s", self.name, reason)
        self._notify(self._on_lost)

    def _notify(self, callback: Callable[..., None] | None, *args: int) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # a faulty listener must not stall the campaign
            log.exception("lease %s: leadership callback failed", self.name)

    async def _lead(self, work: Work) -> None:
        while True:
            token = await self.wait_elected()
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(work(token), name=f"lease-{self.name}-term-{token}")
                    tg.create_task(self._raise_when_lost(token), name=f"lease-{self.name}-watch")
            except* LeadershipLost:
                log.info("lease %s: work of term %d stopped", self.name, token)
            await self._following.wait()

    async def _raise_when_lost(self, token: int) -> None:
        await self._following.wait()
        raise LeadershipLost(f"lease {self.name}: term {token} is over")
