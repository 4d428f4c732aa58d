"""``petrosa dev`` as a developer uses it: one command up, every endpoint ready, Ctrl-C down."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from petrosa_cli import dev
from petrosa_cli.main import COMMANDS, build_parser
from tests.harness.servers import free_port

SERVICES = ("ingestor", "auditor", "backfiller", "analytics", "api")
EXPECTED_ENDPOINTS = {"nats", "api"} | {f"metrics {s}" for s in SERVICES if s != "api"}
ENDPOINT_LINE = re.compile(r"^(nats|api|metrics [a-z]+): (\S+)$")
START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0


def children_of(pid: int) -> set[int]:
    """Pids whose parent is ``pid``, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def still_running(pids: set[int]) -> list[int]:
    return sorted(pid for pid in pids if Path(f"/proc/{pid}").exists())


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


class DevConsole:
    """The dev supervisor's stdout, collected line by line; endpoint lines parsed as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.endpoints: dict[str, str] = {}
        self._arrived = asyncio.Condition()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            async with self._arrived:
                self.lines.append(line)
                if match := ENDPOINT_LINE.match(line):
                    self.endpoints[match[1]] = match[2]
                self._arrived.notify_all()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(START_TIMEOUT), self._arrived:
            await self._arrived.wait_for(lambda: condition() or self.reader.done())
        assert condition(), "petrosa dev exited early:\n" + "\n".join(self.lines[-40:])

    def count(self, prefix: str) -> int:
        return sum(line.startswith(prefix) for line in self.lines)


def readiness_url(endpoint: str) -> str:
    return f"http://{urlsplit(endpoint).netloc}/health/readiness"


async def ready(client: httpx.AsyncClient, url: str) -> int:
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            response = await client.get(url)
            if response.status_code == 200:
                return response.status_code
            await asyncio.sleep(0.1)


async def test_petrosa_dev_runs_every_service_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "petrosa_cli",
        "dev",
        "--api-port",
        "0",
        cwd=tmp_path,
        env=os.environ.copy(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    console = DevConsole(proc)
    try:
        await console.wait_until(lambda: EXPECTED_ENDPOINTS <= console.endpoints.keys())
        async with httpx.AsyncClient(timeout=5) as client:
            statuses = {
                name: await ready(client, readiness_url(url))
                for name, url in console.endpoints.items()
                if name != "nats"
            }
            docs = await client.get(console.endpoints["api"])
            [ingestor] = [p for p in children_of(proc.pid) if "petrosa_ingestor" in command_line(p)]

            os.kill(ingestor, signal.SIGKILL)
            await console.wait_until(lambda: console.count("metrics ingestor:") == 2)
            restarted = await ready(client, readiness_url(console.endpoints["metrics ingestor"]))
        children = children_of(proc.pid)

        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(STOP_TIMEOUT):
            code = await proc.wait()
            await console.reader
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert console.endpoints["nats"].startswith("nats://127.0.0.1:")
    assert console.endpoints["api"].endswith("/docs")
    assert statuses == dict.fromkeys(EXPECTED_ENDPOINTS - {"nats"}, 200)
    assert docs.status_code == 200
    assert "ingestor | exited with code -9; restarting in 1s" in console.lines
    assert restarted == 200
    assert ingestor not in children
    assert len(children) == len(SERVICES) + 1  # every service and nats-server
    assert code == 0
    assert still_running(children) == []
    assert (tmp_path / "data" / "dev" / "nats" / "jetstream").is_dir()


def test_cli_parses_dev_options_and_knows_every_service() -> None:
    args = build_parser().parse_args(["dev", "--api-port", "0"])

    assert args.api_port == 0
    assert args.handler is COMMANDS["dev"].handler
    assert list(COMMANDS) == [*SERVICES, "dev"]


def test_dev_api_port_is_8000_unless_busy_or_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("0.0.0.0", 0)) as busy:
        monkeypatch.setattr(dev, "DEFAULT_API_PORT", busy.getsockname()[1])
        assert dev.api_port_for(None) == 0
    free = free_port()
    monkeypatch.setattr(dev, "DEFAULT_API_PORT", free)

    assert dev.api_port_for(None) == free
    assert dev.api_port_for(9999) == 9999
