"""The service runtime in-process: failures stop the service, shutdown runs in order, and
the probes tell a process that is merely waiting from one that can never recover."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from petrosa_core import runtime as runtime_module
from petrosa_core.bus import Bus
from petrosa_core.http import health_app, serve_http
from petrosa_core.logs import JsonFormatter
from petrosa_core.runtime import Runtime, without_credentials
from petrosa_core.settings import CoreSettings
from petrosa_core.wiring import connect_bus
from tests.harness.servers import NatsServer


def quiet_runtime(shutdown_timeout: float = 5.0) -> Runtime:
    """A runtime that leaves the test process's signal handlers alone."""
    return Runtime("test", shutdown_timeout=shutdown_timeout, signals=())


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def until_ready(rt: Runtime) -> None:
    async with asyncio.timeout(5):
        while True:
            if not await rt.readiness():
                return
            await asyncio.sleep(0.01)


async def test_a_failing_task_stops_the_service_with_exit_code_1(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def explode() -> None:
        raise RuntimeError("consumer lost its mind")

    async def start(rt: Runtime) -> None:
        rt.spawn("consumer", explode())

    with caplog.at_level(logging.ERROR, logger="petrosa.runtime"):
        code = await quiet_runtime().run(start)

    assert code == 1
    [failure] = [r for r in caplog.records if r.message.startswith("task failed")]
    assert failure.message == "task failed: consumer"
    assert failure.__dict__["task"] == "consumer"
    assert failure.exc_info is not None
    assert str(failure.exc_info[1]) == "consumer lost its mind"


async def test_a_task_that_returns_before_shutdown_is_a_failure() -> None:
    async def returns_at_once() -> None:
        return None

    async def start(rt: Runtime) -> None:
        rt.spawn("scheduler", returns_at_once())

    assert await quiet_runtime().run(start) == 1


async def test_a_startup_failure_exits_1_and_still_runs_the_closers() -> None:
    closed: list[str] = []

    async def close() -> None:
        closed.append("nats")

    async def start(rt: Runtime) -> None:
        rt.add_closer("nats", close)
        raise ConnectionError("store unreachable")

    assert await quiet_runtime().run(start) == 1
    assert closed == ["nats"]


async def test_stop_turns_unready_stops_intake_drains_then_closes_in_reverse() -> None:
    events: list[str] = []
    intake_closed = asyncio.Event()
    rt = quiet_runtime()

    async def worker() -> None:
        await intake_closed.wait()
        events.append("in-flight work finished")

    async def stop_intake() -> None:
        events.append(f"intake stopped while readiness failing={sorted(await rt.readiness())}")
        intake_closed.set()

    def closer(name: str) -> runtime_module.Closer:
        async def close() -> None:
            events.append(f"closed {name}")

        return close

    async def start(rt: Runtime) -> None:
        rt.add_closer("http", closer("http"))
        rt.add_closer("store", closer("store"))
        rt.add_closer("nats", closer("nats"))
        rt.on_stop_intake("consumer", stop_intake)
        rt.spawn("worker", worker())

    running = asyncio.create_task(rt.run(start))
    await until_ready(rt)
    rt.stop()

    assert await running == 0
    assert events == [
        "intake stopped while readiness failing=['shutdown']",
        "in-flight work finished",
        "closed nats",
        "closed store",
        "closed http",
    ]


async def test_drain_cancels_work_that_outlives_the_shutdown_timeout() -> None:
    rt = quiet_runtime(shutdown_timeout=0.2)
    stuck: list[asyncio.Task[None]] = []

    async def ignores_shutdown() -> None:
        await asyncio.Event().wait()

    async def start(rt: Runtime) -> None:
        stuck.append(rt.spawn("stuck", ignores_shutdown()))

    running = asyncio.create_task(rt.run(start))
    await until_ready(rt)
    rt.stop()

    assert await running == 0
    assert stuck[0].cancelled()


async def test_a_failing_closer_makes_the_exit_code_non_zero() -> None:
    async def broken_close() -> None:
        raise OSError("flush failed")

    rt = quiet_runtime()

    async def start(rt: Runtime) -> None:
        rt.add_closer("store", broken_close)

    running = asyncio.create_task(rt.run(start))
    await until_ready(rt)
    rt.stop()

    assert await running == 1


async def test_readiness_names_each_failing_check_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime_module, "CHECK_TIMEOUT", 0.05)
    rt = quiet_runtime()

    async def passes() -> bool:
        return True

    async def fails() -> bool:
        return False

    async def raises() -> bool:
        raise ConnectionError("refused")

    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    for name, check in {"store": passes, "nats": fails, "leader": raises, "slow": hangs}.items():
        rt.add_check(name, check)

    assert await rt.readiness() == {
        "startup": "service is starting",
        "nats": "failing",
        "leader": "ConnectionError: refused",
        "slow": "no answer within 0.05s",
    }


async def test_readiness_is_empty_once_started_and_every_check_passes() -> None:
    rt = quiet_runtime()

    async def passes() -> bool:
        return True

    async def start(rt: Runtime) -> None:
        rt.add_check("nats", passes)

    running = asyncio.create_task(rt.run(start))
    await until_ready(rt)
    assert await rt.readiness() == {}
    rt.stop()
    assert await running == 0


def test_json_log_line_carries_service_extras_and_exception() -> None:
    try:
        raise ValueError("bad frame")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "petrosa.ingest", logging.WARNING, __file__, 1, "dropped %d frames", (3,), exc_info
    )
    record.__dict__.update({"subject": "binance.futures.websocket.data", "count": 3})
    record.created = 1_700_000_000.25

    entry = json.loads(JsonFormatter("ingestor").format(record))

    assert entry.pop("exception").splitlines()[-1] == "ValueError: bad frame"
    assert entry == {
        "time": "2023-11-14T22:13:20.250+00:00",
        "level": "WARNING",
        "service": "ingestor",
        "logger": "petrosa.ingest",
        "message": "dropped 3 frames",
        "subject": "binance.futures.websocket.data",
        "count": 3,
    }


def test_log_fields_never_carry_url_credentials() -> None:
    assert without_credentials("nats://dm:s3cret@nats.svc:4222") == "nats://nats.svc:4222"
    assert without_credentials("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"


async def test_liveness_fails_on_a_failing_liveness_check_not_on_readiness_checks() -> None:
    rt = quiet_runtime()

    async def fails() -> bool:
        return False

    rt.add_check("store", fails)
    before = await rt.liveness()
    rt.add_liveness_check("nats", fails)

    assert (before, await rt.liveness()) == ({}, {"nats": "failing"})


async def test_liveness_holds_through_a_reconnect_and_fails_once_nats_closes_for_good(
    tmp_path: Path,
) -> None:
    server = NatsServer(tmp_path)
    server.start()
    runtime = Runtime("probe-test", signals=())
    settings = CoreSettings(nats_url=server.url, service_name="probe-test")
    started: list[tuple[int, Bus]] = []

    async def start(rt: Runtime) -> None:
        port = await serve_http(rt, health_app(rt), 0, host="127.0.0.1")
        started.append((port, await connect_bus(rt, settings)))

    running = asyncio.create_task(runtime.run(start))
    try:
        await until(lambda: bool(started))
        port, bus = started[0]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def probes() -> tuple[int, int]:
                live = await http.get("/health/liveness")
                ready = await http.get("/health/readiness")
                return live.status_code, ready.status_code

            connected = await probes()
            server.stop()
            await until(lambda: bus.client.is_reconnecting)
            reconnecting = await probes()
            server.start()
            await until(lambda: bus.is_connected)
            # A subject past the server's 4 KiB control line: the server answers -ERR and
            # closes the connection, and nats-py takes that as final and never reconnects.
            await bus.client.publish("x" * 5000, b"")
            await until(lambda: bus.client.is_closed)
            closed = await probes()
            answer = (await http.get("/health/liveness")).json()
    finally:
        runtime.stop()
        await running
        server.stop()

    assert (connected, reconnecting, closed) == ((200, 200), (200, 503), (503, 503))
    assert answer == {
        "status": "not_alive",
        "service": "probe-test",
        "failing": {"nats": "failing"},
    }
