"""Static checks of the deployment files; no container engine or helm binary runs here."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from petrosa_core.settings import CoreSettings, load_settings

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "petrosa-data-manager"
COMPONENTS = ("ingestor", "auditor", "backfiller", "analytics", "api")
INFRA = ("nats", "mongo", "mysql")
# Read by petrosa_core.settings outside the fields, for the original service's deployments.
LEGACY_NAMES = {"MONGODB_URL"} | {
    f"{db}_{part}"
    for db in ("MONGODB", "MYSQL", "POSTGRES")
    for part in ("HOST", "PORT", "USER", "PASSWORD", "DB")
}
RANGED_TEMPLATES = ("deployment.yaml", "pdb.yaml", "configmap.yaml", "service.yaml")


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


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return load(CHART / "values.yaml")


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
    assert nats["image"].startswith("nats:2.10")
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


def test_shared_settings_are_ones_the_core_reads(
    compose: dict[str, Any], values: dict[str, Any]
) -> None:
    core = env_names(CoreSettings) | LEGACY_NAMES
    assert set(compose["x-app-env"]) - core == set()
    assert set(values["config"]) - core == set()


def template_env_names() -> set[str]:
    """Env names the ConfigMap and Deployment templates write literally."""
    names: set[str] = set()
    for template in ("configmap.yaml", "deployment.yaml"):
        text = (CHART / "templates" / template).read_text()
        names |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]+):", text, re.MULTILINE))
        names |= set(re.findall(r"- name: ([A-Z][A-Z0-9_]+)$", text, re.MULTILINE))
    return names


def test_chart_templates_write_only_names_some_settings_read() -> None:
    known = env_names(CoreSettings) | LEGACY_NAMES
    for component in COMPONENTS:
        for cls in service_settings(component):
            known |= env_names(cls)
    assert template_env_names() == {
        "METRICS_PORT",
        "SHUTDOWN_TIMEOUT",
        "API_PORT",
        "API_KEYS_FILE",
        "MARKET_STORE_URL",
        "METADATA_STORE_URL",
    }
    assert template_env_names() <= known


def interpolated(value: object) -> str:
    """``value`` as compose sees it with an ``.env`` that sets only the required names."""
    return re.sub(
        r"\$\{\w+(:-|:\?)([^}]*)\}",
        lambda m: m.group(2) if m.group(1) == ":-" else "set-in-env",
        str(value),
    )


def chart_env(values: dict[str, Any], component: str) -> dict[str, str]:
    """The environment the chart gives ``component``, as its ConfigMap and Secret set it."""
    env = {**values["config"], **values["components"][component]["env"]}
    env |= {"METRICS_PORT": str(values["ports"]["metrics"])}
    env |= {"SHUTDOWN_TIMEOUT": str(values["shutdownTimeoutSeconds"])}
    env |= dict.fromkeys(("MARKET_STORE_URL", "METADATA_STORE_URL"), "from-the-secret")
    if component == "api":
        env |= {"API_PORT": str(values["ports"]["api"]), "API_KEYS_FILE": "mounted"}
    return env


@pytest.mark.parametrize("component", COMPONENTS)
@pytest.mark.parametrize("source", ["compose", "chart"])
def test_each_component_accepts_the_settings_it_is_given(
    component: str,
    source: str,
    compose: dict[str, Any],
    values: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    classes = service_settings(component)
    env = {k: interpolated(v) for k, v in compose["services"][component]["environment"].items()}
    if source == "chart":
        env = chart_env(values, component)
    known = LEGACY_NAMES.union(*(env_names(cls) for cls in classes))
    assert set(env) - known == set()
    if "API_KEYS_FILE" in env:
        env["API_KEYS_FILE"] = str(tmp_path / "api_keys")
        (tmp_path / "api_keys").write_text("k1:read\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for cls in classes:
        settings = load_settings(cls)
        assert settings.nats_url == env["NATS_URL"]
        assert settings.metrics_port == int(env["METRICS_PORT"])


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
    assert copied == {"pyproject.toml", "README.md", "libs", "services"}
    reincluded = ignore[ignore.index("*") + 1 :]
    assert {f"!{path}" for path in copied} <= set(reincluded)


def test_chart_metadata_matches_the_package() -> None:
    chart = load(CHART / "Chart.yaml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == CHART.name
    assert chart["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", chart["version"])
    assert chart["appVersion"] == project["version"]


def test_values_size_every_component(values: dict[str, Any]) -> None:
    components = values["components"]
    assert sorted(components) == sorted(COMPONENTS)
    for name in ("auditor", "analytics"):
        assert components[name]["replicas"] == 2
        assert components[name]["env"]["ENABLE_LEADER_ELECTION"] == "true"
    for spec in components.values():
        assert spec["enabled"] is True
        assert (
            set(spec["resources"]["requests"])
            == set(spec["resources"]["limits"])
            == {
                "cpu",
                "memory",
            }
        )
        assert spec["pdb"] == {"maxUnavailable": 1}
        drain = spec.get("preStopSleepSeconds", 0) + values["shutdownTimeoutSeconds"]
        assert values["terminationGracePeriodSeconds"] > drain


def test_values_probe_health_paths_as_the_image_user(values: dict[str, Any]) -> None:
    assert values["probes"]["liveness"]["path"] == "/health/liveness"
    assert values["probes"]["readiness"]["path"] == "/health/readiness"
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["podSecurityContext"]["runAsUser"] == 10001
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["ports"] == {"api": 8000, "metrics": 9090}


@pytest.mark.parametrize("template", RANGED_TEMPLATES)
def test_per_component_templates_range_over_components(template: str) -> None:
    text = (CHART / "templates" / template).read_text()
    assert text.startswith("{{- range $name, $c := .Values.components }}\n{{- if $c.enabled }}")


@pytest.mark.parametrize("template", sorted(p.name for p in (CHART / "templates").iterdir()))
def test_template_actions_are_balanced(template: str) -> None:
    text = (CHART / "templates" / template).read_text()
    assert text.count("{{") == text.count("}}")
    opened = re.findall(r"\{\{-?\s*(?:if|range|with|define|block)\s", text)
    closed = re.findall(r"\{\{-?\s*end\s*-?\}\}", text)
    assert len(opened) == len(closed)
