"""Each service as an operator runs it: a real process, real NATS, probes, metrics, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.servers import NatsServer, free_port

SERVICES = ("ingestor", "auditor", "backfiller", "analytics", "api")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


class ServiceProcess:
    """``python -m petrosa_<name>`` with its JSON log lines collected as they arrive."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.logs: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, name: str, env: dict[str, str]) -> ServiceProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"petrosa_{name}",
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(name, proc)

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            async with self._arrived:
                self.logs.append(json.loads(raw))
                self._arrived.notify_all()

    async def log_where(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first log entry matching ``match``, waiting for it if need be."""
        async with asyncio.timeout(START_TIMEOUT), self._arrived:
            while True:
                for entry in self.logs:
                    if match(entry):
                        return entry
                if self._reader.done():
                    raise AssertionError(f"{self.name} exited without such a log line")
                await self._arrived.wait()

    async def port(self) -> int:
        entry = await self.log_where(lambda e: e["message"] == "http listening")
        return int(entry["port"])

    async def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_TIMEOUT):
            code = await self.proc.wait()
            await self._reader
        return code

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        await self._reader


def service_env(tmp_path: Path, nats_url: str) -> dict[str, str]:
    return {
        "NATS_URL": nats_url,
        "METRICS_PORT": "0",
        "API_PORT": "0",
        "MARKET_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'market.db'}",
        "METADATA_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start services for one test; any still running at the end are killed."""
    started: list[ServiceProcess] = []

    async def start(name: str, nats_url: str, **env: str) -> ServiceProcess:
        service = await ServiceProcess.start(name, {**service_env(tmp_path, nats_url), **env})
        started.append(service)
        return service

    yield start
    for service in started:
        await service.kill()


async def readiness_when(client: httpx.AsyncClient, url: str, status: int) -> httpx.Response:
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            response = await client.get(url)
            if response.status_code == status:
                return response
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("name", SERVICES)
async def test_service_turns_ready_serves_metrics_and_drains_on_sigterm(
    launch: Callable[..., Any], nats_server: NatsServer, name: str
) -> None:
    service = await launch(name, nats_server.url)
    base = f"http://127.0.0.1:{await service.port()}"

    async with httpx.AsyncClient(timeout=5) as client:
        ready = await readiness_when(client, f"{base}/health/readiness", 200)
        liveness = await client.get(f"{base}/health/liveness")
        metrics = await client.get(f"{base}/metrics")

    assert ready.json() == {"status": "ready"}
    assert liveness.json() == {"status": "alive", "service": name}
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=")
    assert "# TYPE python_info gauge" in metrics.text
    assert await service.terminate() == 0
    assert {e["service"] for e in service.logs} == {name}
    assert [e["signal"] for e in service.logs if "signal" in e] == ["SIGTERM"]
    assert service.logs[-1]["message"] == "stopped"


@pytest.mark.parametrize("name", ["ingestor", "api"])
async def test_service_is_alive_but_not_ready_while_nats_is_unreachable(
    launch: Callable[..., Any], name: str
) -> None:
    port = free_port()
    service = await launch(name, f"nats://127.0.0.1:{port}")
    base = f"http://127.0.0.1:{await service.port()}"
    await service.log_where(lambda e: e["message"].lower().startswith("nats error"))

    async with httpx.AsyncClient(timeout=5) as client:
        liveness = await client.get(f"{base}/health/liveness")
        readiness = await client.get(f"{base}/health/readiness")

    assert liveness.status_code == 200
    assert readiness.status_code == 503
    assert readiness.json() == {
        "status": "not_ready",
        "failing": {
            "startup": "service is starting",
            "nats": f"NATS at nats://127.0.0.1:{port}: not connected",
        },
    }
    assert any(f"NATS at nats://127.0.0.1:{port}" in e["message"] for e in service.logs)
    assert await service.terminate() == 0


@pytest.mark.parametrize(
    ("name", "variable", "value"),
    [
        ("ingestor", "METRICS_PORT", "abc"),
        ("auditor", "DUPLICATE_RESOLUTION_STRATEGY", "manual"),
        ("backfiller", "BINANCE_WEIGHT_LIMIT", "0"),
        ("analytics", "METRICS_PORT", "abc"),
        ("api", "API_PORT", "abc"),
    ],
)
async def test_a_bad_setting_exits_2_with_one_line_naming_it(
    tmp_path: Path, name: str, variable: str, value: str
) -> None:
    env = {**os.environ, **service_env(tmp_path, "nats://127.0.0.1:4222"), variable: value}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"petrosa_{name}",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(START_TIMEOUT):
        _, stderr = await proc.communicate()

    assert proc.returncode == 2
    [line] = stderr.decode().splitlines()
    assert f"{variable}: " in line


async def test_petrosa_console_script_dispatches_to_the_service(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "petrosa"
    env = {**os.environ, **service_env(tmp_path, "nats://127.0.0.1:4222"), "AUDIT_INTERVAL": "-1"}
    proc = await asyncio.create_subprocess_exec(
        str(script),
        "auditor",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(START_TIMEOUT):
        _, stderr = await proc.communicate()

    assert proc.returncode == 2
    assert stderr.decode().startswith("AuditorSettings: invalid configuration: AUDIT_INTERVAL: ")


async def test_an_unreachable_mongodb_is_named_with_its_host_in_the_log_and_in_readiness(
    launch: Callable[..., Any], nats_server: NatsServer
) -> None:
    port = free_port()
    mongo = f"mongodb://127.0.0.1:{port}/market?serverSelectionTimeoutMS=500"
    service = await launch("api", nats_server.url, MARKET_STORE_URL=mongo)
    base = f"http://127.0.0.1:{await service.port()}"
    logged = await service.log_where(lambda e: f"MongoDB at 127.0.0.1:{port}" in e["message"])

    async with httpx.AsyncClient(timeout=5) as client:
        readiness = await readiness_when(client, f"{base}/health/readiness", 503)

    assert logged["level"] == "WARNING"
    assert readiness.json()["failing"]["market_store"].startswith(f"MongoDB at 127.0.0.1:{port}: ")
    assert await service.terminate() == 0


async def run_to_exit(name: str, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run a service until it exits by itself; its exit code and its stderr lines."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"petrosa_{name}", env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(START_TIMEOUT):
        _, stderr = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, stderr.decode().splitlines()


def the_error_line(lines: list[str]) -> str:
    """The one line saying what is wrong: the only line, or the only error of the JSON log."""
    if not lines or not lines[0].startswith("{"):
        [line] = lines
        return line
    entries = [json.loads(line) for line in lines]
    assert [e for e in entries if "exception" in e] == []
    [error] = [e["message"] for e in entries if e["level"] in ("ERROR", "CRITICAL")]
    return str(error)


@pytest.mark.parametrize(
    ("name", "variable", "value", "says"),
    [
        ("api", "MARKET_STORE_URL", "redis://cache:6379/0", "scheme 'redis' is not supported"),
        ("auditor", "METADATA_STORE_URL", "postgres://dm:pw@db/meta", "scheme 'postgres'"),
        ("ingestor", "MONGODB_URL", "mongo://legacy:27017/x", "scheme 'mongo' is not supported"),
        ("backfiller", "MARKET_STORE_URL", "sqlite:///./data/market.db", "sqlite+aiosqlite://"),
    ],
)
async def test_a_store_url_of_an_unknown_scheme_exits_2_with_one_line_naming_it(
    tmp_path: Path, nats_server: NatsServer, name: str, variable: str, value: str, says: str
) -> None:
    env = {**service_env(tmp_path, nats_server.url), variable: value}
    if variable == "MONGODB_URL":
        env.pop("MARKET_STORE_URL")

    code, lines = await run_to_exit(name, env)

    assert code == 2
    line = the_error_line(lines)
    assert f"{variable}: " in line and says in line
    assert "pw" not in line


@pytest.mark.parametrize(("name", "variable"), [("auditor", "METRICS_PORT"), ("api", "API_PORT")])
async def test_a_busy_port_exits_2_with_one_line_naming_it(
    tmp_path: Path, nats_server: NatsServer, name: str, variable: str
) -> None:
    with socket.create_server(("0.0.0.0", 0)) as taken:
        port = taken.getsockname()[1]
        env = {**service_env(tmp_path, nats_server.url), variable: str(port)}
        code, lines = await run_to_exit(name, env)

    assert code == 2
    line = the_error_line(lines)
    assert f"{variable}: " in line and f"{port} is in use" in line


@pytest.mark.parametrize("name", ["api", "auditor"])
async def test_an_unreachable_mysql_at_start_exits_2_with_one_line_naming_it(
    tmp_path: Path, nats_server: NatsServer, name: str
) -> None:
    port = free_port()
    url = f"mysql+asyncmy://dm:secret-pw@127.0.0.1:{port}/meta"
    env = {**service_env(tmp_path, nats_server.url), "METADATA_STORE_URL": url}

    code, lines = await run_to_exit(name, env)

    assert code == 2
    line = the_error_line(lines)
    assert f"METADATA_STORE_URL: cannot reach MySQL at 127.0.0.1:{port}/meta" in line
    assert "secret-pw" not in "\n".join(lines)


async def test_misspelled_variables_of_the_suite_are_warned_about_with_the_closest_name(
    launch: Callable[..., Any], nats_server: NatsServer
) -> None:
    service = await launch(
        "api", nats_server.url, API_PROT="8080", AUDIT_INTERVL="60", AUDIT_INTERVAL="60",
        NATS_URLS="nats://x:4222", PATH_EXTRA="/opt",
    )  # fmt: skip
    warning = await service.log_where(lambda e: "not a setting" in e["message"])
    await service.port()

    assert warning["level"] == "WARNING"
    assert "API_PROT (did you mean API_PORT?)" in warning["message"]
    assert "AUDIT_INTERVL (did you mean AUDIT_INTERVAL?)" in warning["message"]
    assert "NATS_URLS (did you mean NATS_URL?)" in warning["message"]
    assert "AUDIT_INTERVAL " not in warning["message"] + " "
    assert "PATH_EXTRA" not in warning["message"]
    assert len([e for e in service.logs if "not a setting" in e["message"]]) == 1
    assert await service.terminate() == 0


@pytest.mark.parametrize(
    ("command", "names"),
    [
        ([sys.executable, "-m", "petrosa_auditor"], ["AUDIT_INTERVAL", "NATS_URL", "MONGODB_URL"]),
        ([str(Path(sys.executable).parent / "petrosa"), "api"], ["API_PORT", "API_KEYS_FILE"]),
    ],
)
async def test_help_of_a_service_lists_the_environment_variables_it_reads(
    command: list[str], names: list[str]
) -> None:
    proc = await asyncio.create_subprocess_exec(
        *command, "--help", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(START_TIMEOUT):
        out, _ = await proc.communicate()

    assert proc.returncode == 0
    listed = {line.split()[0] for line in out.decode().splitlines() if line.startswith("  ")}
    assert set(names) <= listed


@pytest.mark.parametrize(("name", "switch"), [("auditor", "ENABLE_AUDITOR"), ("api", "ENABLE_API")])
async def test_a_service_switched_off_serves_probes_only_and_touches_nothing(
    launch: Callable[..., Any], tmp_path: Path, name: str, switch: str
) -> None:
    service = await launch(name, f"nats://127.0.0.1:{free_port()}", **{switch: "false"})
    base = f"http://127.0.0.1:{await service.port()}"

    async with httpx.AsyncClient(timeout=5) as client:
        ready = await readiness_when(client, f"{base}/health/readiness", 200)

    assert ready.json() == {"status": "ready"}
    assert any(f"switched off by {switch}=false" in e["message"] for e in service.logs)
    assert not (tmp_path / "market.db").exists()
    assert not any("NATS" in e["message"] for e in service.logs)
    assert await service.terminate() == 0
