"""The NATS bus: connection state, reconnects, and idempotent JetStream provisioning."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from nats.js.api import StorageType
from prometheus_client import REGISTRY

from petrosa_core.bus import Bus, connect, ensure_kv, ensure_pull_consumer, ensure_stream
from petrosa_core.errors import BusError
from tests.harness.servers import NatsServer, free_port


def gauge() -> float | None:
    return REGISTRY.get_sample_value("data_manager_nats_connection_status")


def reconnections() -> float:
    return REGISTRY.get_sample_value("data_manager_nats_reconnections_total") or 0.0


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    connection = await connect(nats_server.url, name="test-bus", initial_timeout=10)
    yield connection
    await connection.close()


async def test_connect_reports_connected_then_closed(nats_server: NatsServer) -> None:
    bus = await connect(nats_server.url, name="probe", initial_timeout=10)
    assert (bus.is_connected, gauge()) == (True, 1.0)
    await bus.close()
    assert (bus.is_connected, gauge()) == (False, 0.0)


async def test_connect_gives_up_after_initial_timeout() -> None:
    with pytest.raises(BusError, match="cannot connect to NATS"):
        await connect(
            f"nats://127.0.0.1:{free_port()}",
            name="nowhere",
            initial_timeout=0.5,
            reconnect_wait=0.1,
        )


async def test_ensure_stream_creates_keeps_and_updates(bus: Bus) -> None:
    name, subject = unique("S"), unique("subj")
    created = await ensure_stream(bus.js, name, [subject], storage="memory", max_age=60)
    again = await ensure_stream(bus.js, name, [subject], storage="memory", max_age=60)
    assert (created.config.max_age, again.config.max_age) == (60.0, 60.0)
    assert again.state.first_seq == created.state.first_seq
    changed = await ensure_stream(
        bus.js, name, [subject, f"{subject}.x"], storage="memory", max_age=120, max_bytes=1_000_000
    )
    info = await bus.js.stream_info(name)
    assert (changed.config.max_age, info.config.max_age) == (120.0, 120.0)
    assert (sorted(info.config.subjects or []), info.config.max_bytes) == (
        sorted([subject, f"{subject}.x"]),
        1_000_000,
    )


async def test_ensure_stream_survives_concurrent_callers(bus: Bus) -> None:
    name, subject = unique("S"), unique("subj")
    results = await asyncio.gather(
        *(ensure_stream(bus.js, name, [subject], storage="memory", max_age=30) for _ in range(5))
    )
    assert {r.config.max_age for r in results} == {30.0}
    assert {r.config.storage for r in results} == {StorageType.MEMORY}


async def test_ensure_stream_refuses_to_change_storage(bus: Bus) -> None:
    name, subject = unique("S"), unique("subj")
    await ensure_stream(bus.js, name, [subject], storage="memory")
    with pytest.raises(BusError, match="storage"):
        await ensure_stream(bus.js, name, [subject], storage="file")


async def test_ensure_pull_consumer_is_idempotent_and_delivers(bus: Bus) -> None:
    name, subject = unique("S"), unique("subj")
    await ensure_stream(bus.js, name, [f"{subject}.>"], storage="memory")
    first = await ensure_pull_consumer(
        bus.js,
        name,
        "worker",
        filter_subject=f"{subject}.>",
        max_ack_pending=10,
        ack_wait=5,
        max_deliver=3,
    )
    again = await ensure_pull_consumer(
        bus.js,
        name,
        "worker",
        filter_subject=f"{subject}.>",
        max_ack_pending=10,
        ack_wait=5,
        max_deliver=3,
    )
    assert (first.config.max_ack_pending, again.config.max_ack_pending) == (10, 10)
    assert again.created == first.created
    updated = await ensure_pull_consumer(
        bus.js,
        name,
        "worker",
        filter_subject=f"{subject}.>",
        max_ack_pending=50,
        ack_wait=7,
        max_deliver=3,
    )
    assert (updated.config.max_ack_pending, updated.config.ack_wait) == (50, 7.0)
    await bus.js.publish(f"{subject}.a", b"frame")
    sub = await bus.js.pull_subscribe_bind("worker", stream=name)
    [msg] = await sub.fetch(1, timeout=5)
    await msg.ack()
    assert msg.data == b"frame"


async def test_ensure_kv_is_idempotent_and_updates_ttl(bus: Bus) -> None:
    bucket = unique("kv")
    kv = await ensure_kv(bus.js, bucket, ttl=5)
    await kv.put("k", b"v")
    same = await ensure_kv(bus.js, bucket, ttl=5)
    assert (await same.get("k")).value == b"v"
    changed = await ensure_kv(bus.js, bucket, ttl=9, history=3)
    status = await changed.status()
    assert (status.ttl, status.history, (await changed.get("k")).value) == (9.0, 3, b"v")


async def test_reconnects_after_server_restart(tmp_path: Path) -> None:
    server = NatsServer(tmp_path)
    server.start()
    bus = await connect(server.url, name="restart-probe", reconnect_wait=0.1, initial_timeout=10)
    before = reconnections()
    try:
        server.stop()
        await until(lambda: gauge() == 0.0)
        assert not bus.is_connected
        server.start()
        await until(lambda: gauge() == 1.0)
        assert (bus.is_connected, reconnections()) == (True, before + 1)
        await bus.client.publish("after.restart", b"x")
        await bus.client.flush(timeout=5)
    finally:
        await bus.close()
        server.stop()
