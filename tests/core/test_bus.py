"""The NATS bus: connection state, reconnects, and idempotent JetStream provisioning."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import StorageType
from prometheus_client import REGISTRY

from petrosa_core.bus import (
    Bus,
    Entry,
    bind_pull_consumer,
    connect,
    ensure_kv,
    ensure_pull_consumer,
    ensure_stream,
)
from petrosa_core.errors import BusError
from petrosa_core.runtime import Runtime
from petrosa_core.settings import CoreSettings, NatsSettings, load_settings
from petrosa_core.wiring import connect_bus
from tests.harness.nats_auth import credentials_file, nkey_user, tls_files
from tests.harness.servers import NatsServer, free_port, running

USER, PASSWORD, TOKEN = "dm-ingestor", "pw-7f3a9c0e", "tok-51be0d2a"


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
    created = await ensure_stream(bus, name, [subject], storage="memory", max_age=60)
    again = await ensure_stream(bus, name, [subject], storage="memory", max_age=60)
    assert (created.config.max_age, again.config.max_age) == (60.0, 60.0)
    assert again.state.first_seq == created.state.first_seq
    changed = await ensure_stream(
        bus, name, [subject, f"{subject}.x"], storage="memory", max_age=120, max_bytes=1_000_000
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
        *(ensure_stream(bus, name, [subject], storage="memory", max_age=30) for _ in range(5))
    )
    assert {r.config.max_age for r in results} == {30.0}
    assert {r.config.storage for r in results} == {StorageType.MEMORY}


async def test_ensure_stream_refuses_to_change_storage(bus: Bus) -> None:
    name, subject = unique("S"), unique("subj")
    await ensure_stream(bus, name, [subject], storage="memory")
    with pytest.raises(BusError, match="storage"):
        await ensure_stream(bus, name, [subject], storage="file")


async def test_ensure_pull_consumer_is_idempotent_and_delivers(bus: Bus) -> None:
    name, subject = unique("S"), unique("subj")
    await ensure_stream(bus, name, [f"{subject}.>"], storage="memory")
    first = await ensure_pull_consumer(
        bus,
        name,
        "worker",
        filter_subject=f"{subject}.>",
        max_ack_pending=10,
        ack_wait=5,
        max_deliver=3,
    )
    again = await ensure_pull_consumer(
        bus,
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
        bus,
        name,
        "worker",
        filter_subject=f"{subject}.>",
        max_ack_pending=50,
        ack_wait=7,
        max_deliver=3,
    )
    assert (updated.config.max_ack_pending, updated.config.ack_wait) == (50, 7.0)
    await bus.publish_to_stream(f"{subject}.a", b"frame")
    consumer = await bind_pull_consumer(bus, name, "worker")
    [msg] = await consumer.fetch(1, within=5)
    await msg.ack()
    assert (msg.data, msg.subject, msg.deliveries) == (b"frame", f"{subject}.a", 1)


async def test_ensure_kv_is_idempotent_and_updates_ttl(bus: Bus) -> None:
    bucket = unique("kv")
    kv = await ensure_kv(bus, bucket, ttl=5)
    await kv.put("k", b"v")
    same = await ensure_kv(bus, bucket, ttl=5)
    assert await same.get("k") == Entry("k", b"v", 1)
    changed = await ensure_kv(bus, bucket, ttl=9, history=3)
    status = await changed.status()
    entry = await changed.get("k")
    assert (status.ttl, status.history, entry and entry.value) == (9.0, 3, b"v")


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
        await bus.publish("after.restart", b"x")
        await bus.flush(within=5)
    finally:
        await bus.close()
        server.stop()


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    config = f'authorization {{ user: "{USER}", password: "{PASSWORD}" }}\n'
    server = NatsServer(tmp_path_factory.mktemp("nats-password"), config)
    with running(server):
        yield server


def login(url: str, **settings: Any) -> NatsSettings:
    return NatsSettings(nats_url=url, **settings)


async def published_and_flushed(bus: Bus) -> bool:
    await bus.client.publish(unique("login.probe"), b"x")
    await bus.client.flush(timeout=5)
    return bus.is_connected


async def test_user_and_password_log_in(password_server: NatsServer) -> None:
    security = login(password_server.url, nats_user=USER, nats_password=PASSWORD)

    async with await connect(password_server.url, name="pw", security=security) as bus:
        assert await published_and_flushed(bus)


async def test_a_wrong_password_is_refused_at_once_naming_the_server_not_the_secret(
    password_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    security = login(password_server.url, nats_user=USER, nats_password=f"not-{PASSWORD}")
    started = time.monotonic()

    with pytest.raises(BusError) as refused:
        await connect(password_server.url, name="pw", security=security, initial_timeout=30)

    assert time.monotonic() - started < 5
    assert str(refused.value) == (
        f"NATS at {password_server.url} refused the login of pw: nats: 'Authorization Violation'"
    )
    assert PASSWORD not in caplog.text


async def test_a_server_that_requires_a_login_refuses_a_client_without_one(
    password_server: NatsServer,
) -> None:
    with pytest.raises(BusError, match="refused the login of anonymous"):
        await connect(password_server.url, name="anonymous", initial_timeout=30)


async def test_credentials_inside_the_url_never_reach_an_error_message(
    password_server: NatsServer,
) -> None:
    refused_url = password_server.url.replace("://", f"://{USER}:wrong-{PASSWORD}@")
    absent = f"nats://{USER}:{PASSWORD}@127.0.0.1:{free_port()}"

    with pytest.raises(BusError) as refused:
        await connect(refused_url, name="url-login", initial_timeout=30)
    with pytest.raises(BusError) as unreachable:
        await connect(absent, name="url-login", initial_timeout=0.5, reconnect_wait=0.1)

    assert f"NATS at {password_server.url} refused" in str(refused.value)
    assert f"at nats://127.0.0.1:{absent.rsplit(':', 1)[1]}:" in str(unreachable.value)
    assert PASSWORD not in f"{refused.value} {unreachable.value}"


async def test_token_logs_in(tmp_path: Path) -> None:
    with running(NatsServer(tmp_path, f'authorization {{ token: "{TOKEN}" }}\n')) as server:
        security = login(server.url, nats_token=TOKEN)
        async with await connect(server.url, name="token", security=security) as bus:
            assert await published_and_flushed(bus)


async def test_nkey_seed_file_logs_in(tmp_path: Path) -> None:
    seed_file, config = nkey_user(tmp_path)
    with running(NatsServer(tmp_path / "server", config)) as server:
        security = login(server.url, nats_nkey_seed_file=seed_file)
        async with await connect(server.url, name="nkey", security=security) as bus:
            assert await published_and_flushed(bus)


async def test_credentials_file_logs_in_to_an_operator_mode_server_with_jetstream(
    tmp_path: Path,
) -> None:
    creds, config = credentials_file(tmp_path)
    with running(NatsServer(tmp_path / "server", config)) as server:
        security = login(server.url, nats_creds_file=creds)
        async with await connect(server.url, name="creds", security=security) as bus:
            info = await ensure_stream(bus, unique("S"), [unique("subj")], storage="memory")
            assert info.config.storage == StorageType.MEMORY


async def test_tls_verifies_the_server_and_presents_our_certificate(tmp_path: Path) -> None:
    tls = tls_files(tmp_path, verify_clients=True)
    with running(NatsServer(tmp_path / "server", tls.server_config)) as server:
        url = f"tls://127.0.0.1:{server.port}"
        security = login(
            url,
            nats_tls_ca_file=tls.ca,
            nats_tls_cert_file=tls.client_cert,
            nats_tls_key_file=tls.client_key,
        )
        async with await connect(url, name="mtls", security=security) as bus:
            assert await published_and_flushed(bus)


async def test_a_server_certificate_from_an_unknown_ca_is_refused(tmp_path: Path) -> None:
    tls = tls_files(tmp_path)
    with running(NatsServer(tmp_path / "server", tls.server_config)) as server:
        url = f"tls://127.0.0.1:{server.port}"
        with pytest.raises(BusError, match="CERTIFICATE_VERIFY_FAILED"):
            await connect(url, name="tls", security=login(url), initial_timeout=1)


async def test_a_service_connects_with_the_login_from_its_settings(
    password_server: NatsServer,
) -> None:
    settings = load_settings(
        CoreSettings, nats_url=password_server.url, nats_user=USER, nats_password=PASSWORD
    )
    runtime = Runtime("probe")

    bus = await connect_bus(runtime, settings)
    try:
        assert "nats" not in await runtime.readiness()
        assert await published_and_flushed(bus)
    finally:
        await bus.close()
