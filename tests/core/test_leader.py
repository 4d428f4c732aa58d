"""Leader election: one leader at a time, fast hand-over, and stepping down on any doubt."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from petrosa_core.bus import Bus, connect, ensure_kv, open_kv
from petrosa_core.errors import ConfigError, LeadershipLost
from petrosa_core.leader import (
    LeaderElector,
    Lease,
    current_holder,
    lease_holders,
    list_leases,
    open_lease_bucket,
)
from tests.harness.servers import NatsServer

TIMEOUT, HEARTBEAT = 3.0, 0.5


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def metric(name: str, lease: str) -> float:
    return REGISTRY.get_sample_value(name, {"lease": lease}) or 0.0


async def until(condition: Callable[[], bool], within: float) -> float:
    """Poll ``condition``; return the monotonic time it first held."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)
    return time.monotonic()


class Running:
    """An elector campaigning in a task of this event loop."""

    def __init__(self, elector: LeaderElector) -> None:
        self.elector = elector
        self.task = asyncio.create_task(elector.run(), name=f"test-{elector.identity}")

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.start()
    yield server
    if server.proc is not None:
        server.proc.send_signal(signal.SIGCONT)
    server.stop()


def elector(
    bus: Bus, key: str, bucket: str, on_lost: Callable[[], None] | None = None
) -> LeaderElector:
    return LeaderElector(
        bus, key, heartbeat=HEARTBEAT, timeout=TIMEOUT, bucket=bucket, on_lost=on_lost
    )


def test_heartbeat_must_fit_inside_the_lease(bus: Bus) -> None:
    with pytest.raises(ConfigError, match="HEARTBEAT"):
        LeaderElector(bus, "auditor", heartbeat=2.8, timeout=3.0)


async def test_leader_is_visible_and_resigning_releases_the_lease(bus: Bus) -> None:
    bucket, key = unique("leases"), unique("auditor")
    running = Running(elector(bus, key, bucket))
    token = await asyncio.wait_for(running.elector.wait_elected(), 10)
    kv = await open_kv(bus, bucket)
    assert kv is not None
    lease = await current_holder(kv, key)
    assert lease is not None and (lease.holder, lease.revision >= token) == (
        running.elector.identity,
        True,
    )
    assert await list_leases(kv) == await lease_holders(bus, bucket) == [lease]
    assert (running.elector.fencing_token, metric("data_manager_leader_status", key)) == (token, 1)
    await running.stop()
    assert await current_holder(kv, key) is None
    assert (running.elector.is_leader, running.elector.fencing_token) == (False, None)
    assert metric("data_manager_leader_status", key) == 0
    assert metric("data_manager_leadership_changes_total", key) == 2


async def test_follower_sees_the_leader_and_takes_over_after_resign(bus: Bus) -> None:
    bucket, key = unique("leases"), unique("analytics")
    first = Running(elector(bus, key, bucket))
    first_token = await asyncio.wait_for(first.elector.wait_elected(), 10)
    second = Running(elector(bus, key, bucket))
    try:
        await until(lambda: second.elector.leader_id == first.elector.identity, 5)
        assert not second.elector.is_leader
        await first.stop()
        second_token = await asyncio.wait_for(second.elector.wait_elected(), HEARTBEAT + 2)
        assert second_token > first_token
    finally:
        await first.stop()
        await second.stop()


async def test_a_foreign_write_ends_the_term_and_stops_its_work(bus: Bus) -> None:
    bucket, key = unique("leases"), unique("auditor")
    started, cancelled, lost = asyncio.Event(), asyncio.Event(), asyncio.Event()
    tokens: list[int] = []

    async def work(token: int) -> None:
        tokens.append(token)
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    leader = elector(bus, key, bucket, on_lost=lost.set)
    task = asyncio.create_task(leader.run(work), name="test-work")
    try:
        await asyncio.wait_for(started.wait(), 10)
        token = tokens[0]
        kv = await ensure_kv(bus, bucket, ttl=TIMEOUT)
        await kv.put(key, b"intruder")
        await asyncio.wait_for(cancelled.wait(), HEARTBEAT + 1)
        assert lost.is_set() and not leader.is_leader
        with pytest.raises(LeadershipLost):
            leader.require(token)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    intruder = await kv.get(key)
    assert intruder is not None
    assert await current_holder(kv, key) == Lease(key, "intruder", intruder.revision)


async def test_lease_bucket_ttl_grows_but_never_shrinks(bus: Bus) -> None:
    bucket = unique("leases")
    assert await lease_holders(bus, bucket) == []
    await ensure_kv(bus, bucket, ttl=2.0)
    grown = await open_lease_bucket(bus, 3.0, bucket)
    kept = await open_lease_bucket(bus, 1.0, bucket)
    assert ((await grown.status()).ttl, (await kept.status()).ttl) == (3.0, 3.0)


async def test_leader_steps_down_at_once_when_nats_goes_away(private_nats: NatsServer) -> None:
    bus = await connect(private_nats.url, name="leader", reconnect_wait=0.1, initial_timeout=10)
    running = Running(elector(bus, "auditor", "petrosa_leases"))
    try:
        await asyncio.wait_for(running.elector.wait_elected(), 10)
        private_nats.stop()
        stopped = time.monotonic()
        stepped_down = await until(lambda: not running.elector.is_leader, TIMEOUT)
        assert stepped_down - stopped < HEARTBEAT + 0.5
        private_nats.start()
        await asyncio.wait_for(running.elector.wait_elected(), TIMEOUT + 5)
    finally:
        await running.stop()
        await bus.close()


async def test_stalled_nats_leader_steps_down_on_its_own_clock(private_nats: NatsServer) -> None:
    buses = [await connect(private_nats.url, name=f"c{i}", initial_timeout=10) for i in range(2)]
    contenders = [elector(b, "analytics", "petrosa_leases") for b in buses]
    running = [Running(c) for c in contenders]
    beliefs: list[int] = []
    try:
        await watch(contenders, beliefs, lambda: any(c.is_leader for c in contenders), 10)
        [leader] = [c for c in contenders if c.is_leader]
        assert private_nats.proc is not None
        private_nats.proc.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        stepped_down = await watch(contenders, beliefs, lambda: not leader.is_leader, TIMEOUT)
        private_nats.proc.send_signal(signal.SIGCONT)
        # The server could not have handed the lease on while it was frozen.
        assert stepped_down - frozen < TIMEOUT
        await watch(contenders, beliefs, lambda: any(c.is_leader for c in contenders), TIMEOUT + 5)
        await watch(contenders, beliefs, lambda: False, 2 * HEARTBEAT, expire_ok=True)
    finally:
        for task in running:
            await task.stop()
        for b in buses:
            await b.close()
    assert max(beliefs) == 1


async def watch(
    contenders: list[LeaderElector],
    beliefs: list[int],
    condition: Callable[[], bool],
    within: float,
    expire_ok: bool = False,
) -> float:
    """Record how many contenders believe they lead, every 10 ms, until ``condition``."""
    deadline = time.monotonic() + within
    while True:
        beliefs.append(sum(c.is_leader for c in contenders))
        if condition():
            return time.monotonic()
        if time.monotonic() >= deadline:
            assert expire_ok, "condition not reached in time"
            return time.monotonic()
        await asyncio.sleep(0.01)
