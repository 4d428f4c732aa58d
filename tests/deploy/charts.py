"""Rendering the Helm charts with the real Helm binary, and the values the tests render with."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "deploy" / "helm"
MONITORING = ROOT / "deploy" / "monitoring"
COMPONENTS = ("ingestor", "auditor", "backfiller", "analytics", "api")
UMBRELLA = HELM_DIR / "petrosa-data-manager"
LIBRARY = HELM_DIR / "petrosa-common"
NAMESPACE = "market-data"

Manifest = dict[str, Any]


def chart(component: str) -> Path:
    return HELM_DIR / f"petrosa-{component}"


# What a chart needs to render at all when it makes its own Secret.
MINIMAL_SECRETS = {
    "marketStoreUrl": "mongodb://petrosa:pw@mongo:27017/petrosa_data_manager?authSource=admin",
    "metadataStoreUrl": "mysql+asyncmy://petrosa:pw@mariadb:3306/petrosa_data_manager",
    "apiKeys": "deploy-test-key-0123:read+write+admin",
}


def minimal(component: str) -> dict[str, Any]:
    """Default values plus the Secret's required entries."""
    del component
    return {"secrets": {"values": dict(MINIMAL_SECRETS)}}


def production(component: str) -> dict[str, Any]:
    """Values like a production install: every optional feature the component has, on."""
    peers = {
        "nats": {"port": 4222, "peers": [_ns("nats")]},
        "marketStore": {"port": 27017, "peers": [_ns("mongodb")]},
        "metadataStore": {"port": 3306, "peers": [_ns("mariadb")]},
        "redis": {"port": 6379, "peers": [_ns("redis")]},
        "otel": {"port": 4318, "peers": [_ns("observability")]},
    }
    values: dict[str, Any] = {
        "image": {
            "repository": "registry.example.com/petrosa-data-manager",
            "digest": "sha256:" + "ab" * 32,
        },
        "replicaCount": 3,
        "config": {
            "NATS_URL": "tls://nats-0.nats:4222,tls://nats-1.nats:4222,tls://nats-2.nats:4222",
            "LOG_LEVEL": "INFO",
            "NATS_STREAM_REPLICAS": "3",
        },
        "secrets": {"existingSecret": "petrosa-dm", "revision": "7"},
        "nats": {"auth": "userPassword", "tls": {"enabled": True, "clientCert": True}},
        "mongo": {
            "replicaSet": "rs0",
            "writeConcern": "majority",
            "readPreference": "primaryPreferred",
            "retryWrites": True,
        },
        "redis": {"enabled": True},
        "otel": {
            "enabled": True,
            "endpoint": "http://otel-collector.observability:4318",
            "resourceAttributes": {"deployment.environment": "production"},
        },
        "networkPolicy": {"enabled": True, **peers},
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}},
            "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus"}},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
            }
        ],
    }
    if component == "api":
        values["autoscaling"] = {"enabled": True, "minReplicas": 3, "maxReplicas": 12}
        values["ingress"] = {
            "enabled": True,
            "className": "nginx",
            "hosts": ["market-data.example.com"],
            "tls": [{"secretName": "market-data-tls", "hosts": ["market-data.example.com"]}],
        }
    if component == "ingestor":
        values["keda"] = {"enabled": True, "monitoringEndpoint": "nats.nats:8222"}
    return values


def _ns(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def helm(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=120, check=False
    )


def values_file(tmp: Path, values: dict[str, Any]) -> Path:
    path = tmp / f"values-{len(list(tmp.glob('values-*')))}.yaml"
    path.write_text(json.dumps(values))  # JSON is YAML
    return path


def render(
    binary: Path, tmp: Path, chart_dir: Path, values: dict[str, Any], *extra: str
) -> list[Manifest]:
    """``helm template`` of ``chart_dir``; fails the test with Helm's message on an error."""
    result = helm(
        binary,
        "template",
        "dm",
        str(chart_dir),
        "--namespace",
        NAMESPACE,
        "-f",
        str(values_file(tmp, values)),
        *extra,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def refusal(binary: Path, tmp: Path, chart_dir: Path, values: dict[str, Any], *extra: str) -> str:
    """Helm's error when it refuses to render; fails the test if it renders."""
    result = helm(
        binary, "template", "dm", str(chart_dir), "-f", str(values_file(tmp, values)), *extra
    )
    assert result.returncode != 0, f"rendered although it should not:\n{result.stdout[:2000]}"
    return result.stderr


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    [found] = of_kind(manifests, kind)
    return found


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` laid over ``base``, nested mappings merged."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def alert_groups() -> dict[str, Any]:
    data = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    assert isinstance(data, dict)
    return data
