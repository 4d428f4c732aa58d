"""docker-compose.yml through a real Compose implementation (Docker Compose v2's `config`).

`docker compose config` parses, validates against the Compose specification and
interpolates the file without a container engine; the tests read the resolved project.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.charts import ROOT
from tests.harness.servers import NatsServer

COMPOSE_FILE = ROOT / "docker-compose.yml"
APPS = ("ingestor", "auditor", "backfiller", "analytics", "api")
# An exact release: major.minor.patch (and a variant), or a digest.
PINNED = re.compile(r"^[\w./-]+:(\d+\.\d+\.\d+[\w.-]*|[\w.-]+@sha256:[0-9a-f]{64})$")


def required_variables() -> set[str]:
    return set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text()))


def compose(
    binary: Path, tmp_path: Path, env: dict[str, str], *args: str, file: Path = COMPOSE_FILE
) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return subprocess.run(
        [
            str(binary),
            "-f",
            str(file),
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )


@pytest.fixture
def passwords() -> dict[str, str]:
    return {name: f"{name.lower()}-0123" for name in required_variables()}


@pytest.fixture
def project(compose_bin: Path, tmp_path: Path, passwords: dict[str, str]) -> dict[str, Any]:
    result = compose(compose_bin, tmp_path, passwords, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert isinstance(resolved, dict)
    return resolved


def test_compose_validates_and_resolves(project: dict[str, Any], passwords: dict[str, str]) -> None:
    services = project["services"]
    assert sorted(services) == sorted(("nats", "mongo", "mysql", *APPS))
    api = services["api"]["environment"]
    assert api["NATS_PASSWORD"] == passwords["NATS_API_PASSWORD"]
    assert f":{passwords['MONGO_PASSWORD']}@mongo:27017/" in api["MARKET_STORE_URL"]


def test_compose_pins_every_image(project: dict[str, Any]) -> None:
    for name in ("nats", "mongo", "mysql"):
        assert PINNED.match(project["services"][name]["image"]), name
    built = {project["services"][name]["image"] for name in APPS}
    assert len(built) == 1  # the image docker-compose builds from the Dockerfile
    assert all("build" in project["services"][name] for name in APPS)


def test_compose_nats_is_the_version_the_tests_run(project: dict[str, Any], tmp_path: Path) -> None:
    binary = NatsServer(tmp_path).binary
    assert binary is not None
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True
    ).stdout
    tested = re.search(r"v(\d+\.\d+\.\d+)", version)
    assert tested is not None
    assert project["services"]["nats"]["image"] == f"nats:{tested[1]}-alpine"


def test_compose_runs_nothing_as_root(project: dict[str, Any]) -> None:
    services = project["services"]
    for name in ("mongo", "mysql"):
        uid, _, gid = services[name]["user"].partition(":")
        assert int(uid) > 0 and int(gid) > 0, name
    # The application containers run as the image's USER (10001), which compose keeps.
    assert all("user" not in services[name] for name in APPS)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE) == ["10001:10001"]
    # And the databases' application logins are not root users.
    assert services["mysql"]["environment"]["MARIADB_USER"] == "petrosa"
    market = services["api"]["environment"]["MARKET_STORE_URL"]
    assert market.startswith("mongodb://petrosa:")


def test_compose_refuses_to_start_without_a_password(
    compose_bin: Path, tmp_path: Path, passwords: dict[str, str]
) -> None:
    for missing in sorted(required_variables()):
        env = {k: v for k, v in passwords.items() if k != missing}
        result = compose(compose_bin, tmp_path, env, "config", "-q")
        assert result.returncode != 0
        assert f"required variable {missing} is missing" in result.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            (
                '    healthcheck:\n      test: ["CMD", "wget"',
                '    healthchek:\n      test: ["CMD", "wget"',
            ),
            "additional properties 'healthchek' not allowed",
        ),
        (("      retries: 10\n", "      retries: ten\n"), "retries"),
        (("    restart: unless-stopped\n", "    restart: [unless-stopped]\n"), "restart"),
    ],
)
def test_compose_rejects_a_file_outside_the_specification(
    edit: tuple[str, str],
    message: str,
    compose_bin: Path,
    tmp_path: Path,
    passwords: dict[str, str],
) -> None:
    old, new = edit
    text = COMPOSE_FILE.read_text()
    assert old in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1))
    yaml.safe_load(broken.read_text())  # still YAML: only Compose can tell it is wrong
    result = compose(compose_bin, tmp_path, passwords, "config", "-q", file=broken)
    assert result.returncode != 0
    assert message in result.stderr
