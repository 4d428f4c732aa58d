"""Service processes for the analytics process tests: started with ``python -m``, logs read back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.harness.servers import free_port
from tests.ingestor._support import wait_ready

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
# Every wait is bounded by this. The first columnar read of a process starts its SQLite
# reader processes, which takes tens of seconds on a loaded two-core machine.
WAIT = 180.0
STOP_TIMEOUT = 15.0


class Service:
    """One service process, its HTTP port (metrics, or the API's) and its JSON log file."""

    def __init__(self, module: str, env: dict[str, str], log: Path) -> None:
        self.module, self.log = module, log
        self.port = free_port()
        ports = {"METRICS_PORT": str(self.port), "API_PORT": str(self.port)}
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module],
                env={**os.environ, **env, **ports},
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                # Its own process group: the SQLite reader processes it forks die with it.
                start_new_session=True,
            )

    def logs(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a traceback line of a crash: tail() shows it
        return found

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.module} (exit {self.proc.poll()}):\n{self.log.read_text()[-chars:]}"

    def kill(self) -> None:
        """SIGKILL the service and every process it started, as when its pod dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in time; no helper process outlives it."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


async def launch(services: list[Service], module: str, env: dict[str, str], log: Path) -> Service:
    service = Service(module, env, log)
    services.append(service)
    await wait_ready(service.port, timeout=WAIT)
    return service


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, services: list[Service]
) -> T:
    """``probe()``'s first value that is not None; on timeout, fail with the services' logs."""
    try:
        async with asyncio.timeout(WAIT):
            while (value := await probe()) is None:
                for service in services:
                    if service.proc.returncode is None:
                        assert service.proc.poll() is None, f"{what}: exited\n{service.tail()}"
                await asyncio.sleep(0.2)
            return value
    except TimeoutError:
        logs = "\n".join(service.tail() for service in services)
        raise AssertionError(f"no {what} within {WAIT:.0f} s\n{logs}") from None


def computed(services: list[Service], round_id: str) -> list[str]:
    """The datasets each service logged as computed in ``round_id``, all services together."""
    return [
        entry["dataset"]
        for service in services
        for entry in service.logs()
        if entry.get("message") == "analytics dataset computed" and entry.get("round") == round_id
    ]


def rounds(service: Service) -> list[str]:
    return [e["round"] for e in service.logs() if e.get("message") == "analytics round published"]
