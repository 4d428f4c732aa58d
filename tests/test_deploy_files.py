"""Checks of docker-compose.yml and its NATS configuration; the charts are in tests/deploy."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from petrosa_core.bus import connect
from petrosa_core.errors import BusError
from petrosa_core.settings import CoreSettings, NatsSettings, load_settings
from tests.harness.servers import NatsServer, running

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ("ingestor", "auditor", "backfiller", "analytics", "api")
INFRA = ("nats", "mongo", "mysql")
# Read by petrosa_core.settings outside the fields, for the original service's deployments.
LEGACY_NAMES = {"MONGODB_URL"} | {
    f"{db}_{part}"
    for db in ("MONGODB", "MYSQL", "POSTGRES")
    for part in ("HOST", "PORT", "USER", "PASSWORD", "DB")
}
REQUIRED_VARIABLE = re.compile(r"\$\{(\w+):\?[^}]+\}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def env_names(cls: type[CoreSettings]) -> set[str]:
    """Environment names pydantic-settings reads for ``cls`` (case-insensitive)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(prefix + field_name)
    return {name.upper() for name in names}


def service_settings(component: str) -> list[type[CoreSettings]]:
    """The settings classes ``petrosa_<component>.settings`` defines."""
    module = importlib.import_module(f"petrosa_{component}.settings")
    classes = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, CoreSettings)
        and obj.__module__ == module.__name__
    ]
    assert classes, f"{module.__name__} defines no CoreSettings subclass"
    return classes


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(ROOT / "docker-compose.yml")


def test_compose_runs_the_infrastructure_and_each_process_from_one_image(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert sorted(services) == sorted(INFRA + COMPONENTS)
    assert all(services[name]["command"] == [name] for name in COMPONENTS)
    assert len({services[name]["image"] for name in COMPONENTS}) == 1
    assert {services[name]["build"]["context"] for name in COMPONENTS} == {"."}
    for name in COMPONENTS:
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions == dict.fromkeys(INFRA, "service_healthy")
    assert all("healthcheck" in services[name] for name in INFRA + COMPONENTS)


def test_compose_healthchecks_probe_readiness_on_each_process_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in COMPONENTS:
        env = services[name]["environment"]
        port = env["API_PORT"] if name == "api" else env["METRICS_PORT"]
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/health/readiness" in probe


def test_compose_nats_keeps_jetstream_on_a_volume(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    command = nats["command"]
    store_dir = command[command.index("-sd") + 1]
    assert "-js" in command
    assert f"nats-data:{store_dir}" in nats["volumes"]
    assert "nats-data" in compose["volumes"]


def test_compose_api_keys_come_from_a_secret_file(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["environment"]["API_KEYS_FILE"] == "/run/secrets/api_keys"
    assert api["secrets"] == ["api_keys"]
    assert "file" in compose["secrets"]["api_keys"]
    assert not any("API_KEYS" in compose["services"][name]["environment"] for name in COMPONENTS)


def mounted(service: dict[str, Any], target: str) -> Path:
    """The repository file that ``service`` mounts at ``target``."""
    [source] = [v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == target]
    return ROOT / source


def nats_config(compose: dict[str, Any]) -> str:
    nats = compose["services"]["nats"]
    return mounted(nats, nats["command"][nats["command"].index("-c") + 1]).read_text()


def nats_users(compose: dict[str, Any]) -> dict[str, str]:
    """User name -> the variable holding its password, from the compose NATS config."""
    config = nats_config(compose)
    assert "no_auth_user" not in config
    return dict(re.findall(r"user: (\w+), password: \$(\w+)", config))


def test_compose_nats_lets_in_only_users_and_every_password_comes_from_env(
    compose: dict[str, Any],
) -> None:
    services, users = compose["services"], nats_users(compose)
    required = {
        name
        for name, value in services["nats"]["environment"].items()
        if (match := REQUIRED_VARIABLE.fullmatch(value)) and match[1] == name
    }
    logins = [services[name]["environment"] for name in COMPONENTS]

    assert set(users) == {*COMPONENTS, "publisher"}
    assert required == set(users.values())
    assert sorted(env["NATS_USER"] for env in logins) == sorted(COMPONENTS)
    for env in logins:
        password = REQUIRED_VARIABLE.fullmatch(env["NATS_PASSWORD"])
        assert password is not None and password[1] == users[env["NATS_USER"]]
        assert "@" not in env["NATS_URL"]
    for service in compose["services"].values():
        for name, value in service.get("environment", {}).items():
            if "PASSWORD" in name:
                assert REQUIRED_VARIABLE.fullmatch(value), f"{name} is not ${{VAR:?...}}"
            if "_URL" in name and "@" in value:
                assert re.search(rf"://\w+:{REQUIRED_VARIABLE.pattern}@", value), name


async def test_compose_nats_config_refuses_anonymous_clients_and_admits_each_process(
    compose: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for user, variable in nats_users(compose).items():
        monkeypatch.setenv(variable, f"{user}-pw-4c1e")

    with running(NatsServer(tmp_path, nats_config(compose))) as server:
        with pytest.raises(BusError, match="refused the login"):
            await connect(server.url, name="anonymous", initial_timeout=10)
        for user in COMPONENTS:
            login = NatsSettings(
                nats_url=server.url, nats_user=user, nats_password=f"{user}-pw-4c1e"
            )
            async with await connect(server.url, name=user, security=login) as bus:
                assert bus.is_connected


def test_compose_processes_use_the_databases_as_an_app_user_never_root(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    mongo, mysql = services["mongo"]["environment"], services["mysql"]["environment"]
    init = mounted(services["mongo"], "/docker-entrypoint-initdb.d/10-app-user.js").read_text()
    for name in COMPONENTS:
        env = services[name]["environment"]
        market = urlsplit(interpolated(env["MARKET_STORE_URL"]))
        metadata = urlsplit(interpolated(env["METADATA_STORE_URL"]))
        database = market.path.lstrip("/")
        assert market.username not in {"root", mongo["MONGO_INITDB_ROOT_USERNAME"]}
        assert market.query == f"authSource={database}"
        assert f'user: "{market.username}"' in init
        assert f'roles: [{{ role: "readWrite", db: "{database}" }}]' in init
        assert metadata.username != "root"
        assert (metadata.username, metadata.path.lstrip("/")) == (
            mysql["MARIADB_USER"],
            mysql["MARIADB_DATABASE"],
        )
    assert mysql["MARIADB_ROOT_HOST"] == "localhost"


def test_compose_limits_every_container(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert set(limits) == {"cpus", "memory"}, name


def test_shared_settings_are_ones_the_core_reads(compose: dict[str, Any]) -> None:
    core = env_names(CoreSettings) | LEGACY_NAMES
    assert set(compose["x-app-env"]) - core == set()


def interpolated(value: object) -> str:
    """``value`` as compose sees it with an ``.env`` that sets only the required names."""
    return re.sub(
        r"\$\{\w+(:-|:\?)([^}]*)\}",
        lambda m: m.group(2) if m.group(1) == ":-" else "set-in-env",
        str(value),
    )


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_component_accepts_the_settings_compose_gives_it(
    component: str,
    compose: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    classes = service_settings(component)
    env = {k: interpolated(v) for k, v in compose["services"][component]["environment"].items()}
    known = LEGACY_NAMES.union(*(env_names(cls) for cls in classes))
    assert set(env) - known == set()
    if "API_KEYS_FILE" in env:
        env["API_KEYS_FILE"] = str(tmp_path / "api_keys")
        (tmp_path / "api_keys").write_text("deploy-test-key-0123:read\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for cls in classes:
        settings = load_settings(cls)
        assert settings.nats_url == env["NATS_URL"]
        assert settings.metrics_port == int(env["METRICS_PORT"])


@pytest.mark.parametrize("component", ["auditor", "backfiller", "analytics", "api"])
def test_compose_passes_the_original_enable_switch_to_each_process(
    component: str, compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    switch = f"ENABLE_{component.upper()}"
    given = compose["services"][component]["environment"][switch]
    monkeypatch.setenv(switch, re.sub(r"\$\{\w+:-true\}", "false", given))
    [cls] = service_settings(component)

    assert interpolated(given) == "true"
    assert load_settings(cls).switched_off_by() == switch


def dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_runs_petrosa_as_non_root_without_build_tools() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    build, runtime = dockerfile_stages()
    assert build[0].endswith(" AS build") and runtime[0].endswith(" AS runtime")
    assert any("pip install" in line for line in build)
    assert not any(re.search(r"apt-get|gcc|build-essential", line) for line in runtime)
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert [line for line in runtime if line.startswith("USER ")] == ["USER 10001:10001"]
    assert runtime[-2:] == ['ENTRYPOINT ["petrosa"]', 'CMD ["api"]']


def test_dockerignore_keeps_every_path_the_build_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    copied = {
        source
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    assert copied == {"pyproject.toml", "uv.lock", "README.md", "libs", "services"}
    reincluded = ignore[ignore.index("*") + 1 :]
    assert {f"!{path}" for path in copied} <= set(reincluded)


def test_image_installs_the_locked_runtime_set_with_the_makefiles_uv() -> None:
    build, _ = dockerfile_stages()
    pinned = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert pinned is not None
    assert f"ARG UV_VERSION={pinned[1]}" in build
    syncs = [line for line in build if line.startswith("RUN uv sync")]
    assert len(syncs) == 2
    assert all("--locked --no-dev" in line for line in syncs)
