"""The Helm charts, rendered by the real Helm 4 binary and every manifest checked.

Each component chart alone and the umbrella chart, with default values and with values
like a production install's; the schema's refusals; ``helm lint --strict``.
"""

from __future__ import annotations

import importlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest
import trustme
import yaml
from pydantic import AliasChoices

from petrosa_core.settings import CoreSettings
from tests.deploy.charts import (
    COMPONENTS,
    HELM_DIR,
    LIBRARY,
    NAMESPACE,
    UMBRELLA,
    Manifest,
    alert_groups,
    chart,
    helm,
    merged,
    minimal,
    of_kind,
    one,
    production,
    refusal,
    render,
)

PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
# The OpenTelemetry SDK reads these itself (sampler, resource, propagators, the switch).
OTEL_SDK_NAMES = {
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PROPAGATORS",
    "OTEL_RESOURCE_ATTRIBUTES",
}
BASE_KINDS = {
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Deployment",
    "Service",
    "PodDisruptionBudget",
    "NetworkPolicy",
}
PRODUCTION_EXTRA_KINDS = {
    "ingestor": {"ScaledObject"},
    "api": {"HorizontalPodAutoscaler", "Ingress"},
}


@cache
def settings_names(component: str) -> frozenset[str]:
    """Every environment name ``petrosa_<component>.settings`` reads."""
    module = importlib.import_module(f"petrosa_{component}.settings")
    names: set[str] = set()
    for cls in vars(module).values():
        if isinstance(cls, type) and issubclass(cls, CoreSettings):
            for name, field in cls.model_fields.items():
                alias = field.validation_alias or field.alias
                if isinstance(alias, AliasChoices):
                    names |= {c.upper() for c in alias.choices if isinstance(c, str)}
                else:
                    names.add(str(alias or name).upper())
    return frozenset(names)


# The oldest Kubernetes the charts support (autoscaling/v2, policy/v1, networking/v1 are
# GA there) and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
# Custom resources of the Prometheus Operator and KEDA: not in Kubernetes' schemas.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}


def check_kubernetes_schema(manifests: list[Manifest]) -> None:
    """Every built-in manifest is valid for Kubernetes' OpenAPI schema, unknown fields refused."""
    checked = 0
    for manifest in manifests:
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        checked += 1
        text = json.dumps(manifest, sort_keys=True)
        if text in _SCHEMA_VALID:  # the umbrella's tests check the same manifests again
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                name = f"{manifest['kind']}/{manifest['metadata']['name']}"
                pytest.fail(f"{name} is invalid for Kubernetes {version}: {exc.message}")
        _SCHEMA_VALID.add(text)
    assert checked >= 6


_SCHEMA_VALID: set[str] = set()


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_of(deployment: Manifest) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def check_deployment(deployment: Manifest) -> None:
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = container_of(deployment)
    assert labels_match(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in PROBES:
        get = container[probe]["httpGet"]
        assert get["port"] in ports, (probe, get)
        assert get["path"] in ("/health/liveness", "/health/readiness")
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveness"
    for part in ("requests", "limits"):
        assert set(container["resources"][part]) >= {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    grace = pod["terminationGracePeriodSeconds"]
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
    sleep = int(pre_stop["command"][1]) if pre_stop else 0
    assert grace > sleep + int(configmap_data(deployment)["SHUTDOWN_TIMEOUT"])


_CONFIGMAPS: dict[str, dict[str, str]] = {}


def configmap_data(deployment: Manifest) -> dict[str, str]:
    [source] = container_of(deployment)["envFrom"]
    return _CONFIGMAPS[source["configMapRef"]["name"]]


def check_service(service: Manifest, deployment: Manifest) -> None:
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels_match(service["spec"]["selector"], pod_labels)
    names = {p["name"] for p in container_of(deployment)["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in names
    annotations = service["metadata"]["annotations"]
    [container_port] = container_of(deployment)["ports"]
    assert annotations["prometheus.io/port"] == str(container_port["containerPort"])


def check_network_policy(policy: Manifest, deployment: Manifest) -> None:
    """Selects the pods; lets in traffic to the container's port only; lets out what's drawn."""
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    spec = policy["spec"]
    assert labels_match(spec["podSelector"]["matchLabels"], pod_labels)
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    container_ports = {p["containerPort"] for p in container_of(deployment)["ports"]}
    ingress_ports = {p["port"] for rule in spec["ingress"] for p in rule["ports"]}
    assert ingress_ports == container_ports
    assert all(rule.get("from") for rule in spec["ingress"])


def egress_ports(policy: Manifest) -> set[int]:
    return {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}


def check_component(manifests: list[Manifest], component: str) -> Manifest:
    """Every manifest of one component, checked against its Deployment; returns it."""
    check_kubernetes_schema(manifests)
    for cm in of_kind(manifests, "ConfigMap"):
        _CONFIGMAPS[cm["metadata"]["name"]] = cm["data"]
    [deployment] = [
        d
        for d in of_kind(manifests, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    name = deployment["metadata"]["name"]
    assert container_of(deployment)["args"] == [component]
    check_deployment(deployment)
    named = {(m["kind"], m["metadata"]["name"]): m for m in manifests}
    check_service(named["Service", name], deployment)
    pdb = named["PodDisruptionBudget", name]
    assert labels_match(
        pdb["spec"]["selector"]["matchLabels"], deployment["spec"]["selector"]["matchLabels"]
    )
    if ("NetworkPolicy", name) in named:
        check_network_policy(named["NetworkPolicy", name], deployment)
    check_environment(deployment, component)
    return deployment


def check_environment(deployment: Manifest, component: str) -> None:
    """Every variable the pod gets is one the component's settings or the OTel SDK read."""
    env = set(configmap_data(deployment)) | {e["name"] for e in container_of(deployment)["env"]}
    assert env - settings_names(component) - OTEL_SDK_NAMES == set()
    assert {"NATS_URL", "MARKET_STORE_URL", "METADATA_STORE_URL", "METRICS_PORT"} <= env
    assert "@" not in configmap_data(deployment)["NATS_URL"]


def redis_env(deployment: Manifest) -> str:
    """The variable that carries the shared rate-limit store's URL (from the Secret)."""
    for entry in container_of(deployment)["env"]:
        if entry.get("valueFrom", {}).get("secretKeyRef", {}).get("key") == "redis-url":
            return str(entry["name"])
    return ""


# --- each component chart alone ----------------------------------------------------------


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_chart_renders_alone_with_defaults(
    component: str, helm_bin: Path, tmp_path: Path
) -> None:
    manifests = render(helm_bin, tmp_path, chart(component), minimal(component))
    assert {m["kind"] for m in manifests} == BASE_KINDS
    assert all(
        m["metadata"]["name"] == f"dm-petrosa-{component}"
        for m in manifests
        if m["kind"] != "Secret"
    )
    deployment = check_component(manifests, component)
    data = configmap_data(deployment)
    assert data["OTEL_SDK_DISABLED"] == "true"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in data
    assert redis_env(deployment) == ""
    # Pods roll on the ConfigMap's hash and secrets.revision, never on a hash of the Secret.
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"checksum/config", "petrosa/secret-revision"}
    secret = one(manifests, "Secret")["stringData"]
    assert ("api-keys" in secret) is (component == "api")
    policy = one(manifests, "NetworkPolicy")
    expected = {53, 4222, 27017, 3306} | ({443} if component == "backfiller" else set())
    assert egress_ports(policy) == expected


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_chart_renders_production_values(
    component: str, helm_bin: Path, tmp_path: Path
) -> None:
    manifests = render(helm_bin, tmp_path, chart(component), production(component))
    kinds = {m["kind"] for m in manifests}
    expected = BASE_KINDS - {"Secret"} | {"ServiceMonitor", "PrometheusRule"}
    assert kinds == expected | PRODUCTION_EXTRA_KINDS.get(component, set())
    deployment = check_component(manifests, component)
    container = container_of(deployment)
    assert container["image"] == "registry.example.com/petrosa-data-manager@sha256:" + "ab" * 32
    pod_annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert pod_annotations["petrosa/secret-revision"] == "7"
    secret_refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "valueFrom" in e
    }
    assert set(secret_refs.values()) == {"petrosa-dm"}
    assert {"MARKET_STORE_URL", "METADATA_STORE_URL", "NATS_USER", "NATS_PASSWORD"} <= set(
        secret_refs
    )
    # Only the api reads a shared rate-limit store (API_RATE_LIMIT_STORAGE).
    assert redis_env(deployment) == ("API_RATE_LIMIT_STORAGE" if component == "api" else "")
    data = configmap_data(deployment)
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    assert data["OTEL_RESOURCE_ATTRIBUTES"] == "deployment.environment=production"
    policy = one(manifests, "NetworkPolicy")
    redis = {6379} if component == "api" else set()
    assert egress_ports(policy) - {443} == {53, 4222, 27017, 3306, 4318} | redis
    assert all(rule.get("to") for rule in policy["spec"]["egress"])
    check_monitoring(manifests, deployment, component)


def check_monitoring(manifests: list[Manifest], deployment: Manifest, component: str) -> None:
    monitor = one(manifests, "ServiceMonitor")
    service = one(manifests, "Service")
    assert labels_match(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    rule = one(manifests, "PrometheusRule")
    [group] = [g for g in alert_groups()["groups"] if g["name"] == f"petrosa-{component}"]
    assert rule["spec"]["groups"] == [group]
    assert deployment["metadata"]["name"] == monitor["metadata"]["name"]


def test_api_autoscaler_ingress_and_policy_serve_the_api_port(
    helm_bin: Path, tmp_path: Path
) -> None:
    manifests = render(helm_bin, tmp_path, chart("api"), production("api"))
    deployment = one(manifests, "Deployment")
    assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    ingress = one(manifests, "Ingress")
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    service = one(manifests, "Service")
    assert path["backend"]["service"] == {
        "name": service["metadata"]["name"],
        "port": {"name": "http"},
    }
    assert ingress["spec"]["ingressClassName"] == "nginx"
    policy = one(manifests, "NetworkPolicy")
    sources = [peer for r in policy["spec"]["ingress"] for peer in r["from"]]
    controller = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    }
    assert controller in sources


def test_ingestor_scales_on_the_consumers_pending_count_with_keda(
    helm_bin: Path, tmp_path: Path
) -> None:
    manifests = render(helm_bin, tmp_path, chart("ingestor"), production("ingestor"))
    deployment = one(manifests, "Deployment")
    assert "replicas" not in deployment["spec"]
    scaled = one(manifests, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"] == {"name": deployment["metadata"]["name"]}
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "nats-jetstream"
    # The stream and durable consumer the ingestor's settings name by default.
    from petrosa_ingestor.settings import IngestorSettings

    fields = IngestorSettings.model_fields
    assert trigger["metadata"]["stream"] == fields["nats_stream_name"].default
    assert trigger["metadata"]["consumer"] == fields["nats_consumer_durable"].default
    assert trigger["metadata"]["natsServerMonitoringEndpoint"] == "nats.nats:8222"
    assert int(trigger["metadata"]["lagThreshold"]) > 0


def test_ingestor_autoscaler_without_keda(helm_bin: Path, tmp_path: Path) -> None:
    values = merged(minimal("ingestor"), {"autoscaling": {"enabled": True}})
    manifests = render(helm_bin, tmp_path, chart("ingestor"), values)
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(manifests, "Deployment")["metadata"]["name"]
    assert of_kind(manifests, "ScaledObject") == []


def test_backfiller_may_reach_binance_but_no_private_address(
    helm_bin: Path, tmp_path: Path
) -> None:
    manifests = render(helm_bin, tmp_path, chart("backfiller"), minimal("backfiller"))
    policy = one(manifests, "NetworkPolicy")
    [binance] = [r for r in policy["spec"]["egress"] if r["ports"][0]["port"] == 443]
    [block] = binance["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(block["ipBlock"]["except"])
    for component in ("ingestor", "auditor", "analytics", "api"):
        other = render(helm_bin, tmp_path, chart(component), minimal(component))
        assert 443 not in egress_ports(one(other, "NetworkPolicy"))


# --- NATS login, MongoDB replica set -----------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "env", "files"),
    [
        ("none", set(), set()),
        ("userPassword", {"NATS_USER", "NATS_PASSWORD"}, set()),
        ("token", {"NATS_TOKEN"}, set()),
        ("nkey", {"NATS_NKEY_SEED_FILE"}, {"nats-nkey-seed"}),
        ("creds", {"NATS_CREDS_FILE"}, {"nats-creds"}),
    ],
)
def test_nats_login_modes_take_credentials_from_the_secret_only(
    auth: str, env: set[str], files: set[str], helm_bin: Path, tmp_path: Path
) -> None:
    secrets = {
        "natsUser": "u",
        "natsPassword": "p",
        "natsToken": "t",
        "natsNkeySeed": "SUA",
        "natsCreds": "creds",
        "natsTlsCa": "ca",
    }
    values = merged(
        minimal("auditor"),
        {"nats": {"auth": auth, "tls": {"enabled": True}}, "secrets": {"values": secrets}},
    )
    manifests = render(helm_bin, tmp_path, chart("auditor"), values)
    deployment = check_component(manifests, "auditor")
    nats_env = {e["name"] for e in container_of(deployment)["env"] if e["name"].startswith("NATS_")}
    assert nats_env == env | {"NATS_TLS_CA_FILE"}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounted = {item["key"] for item in volumes["nats-auth"]["secret"]["items"]}
    assert mounted == files | {"nats-tls-ca"}
    assert volumes["nats-auth"]["secret"]["defaultMode"] == 0o440
    stored = set(one(manifests, "Secret")["stringData"])
    assert not any(
        name.startswith("NATS_")
        for name in one(manifests, "ConfigMap")["data"]
        if name != "NATS_URL" and name != "NATS_CONSUMER_SUBJECT"
    )
    assert "nats-tls-ca" in stored


def test_mongo_replica_set_options_join_the_market_store_url(
    helm_bin: Path, tmp_path: Path
) -> None:
    from pymongo.uri_parser import parse_uri

    values = merged(
        minimal("ingestor"),
        {
            "mongo": {
                "replicaSet": "rs0",
                "writeConcern": "majority",
                "journal": True,
                "readPreference": "secondaryPreferred",
                "readConcernLevel": "majority",
                "retryWrites": True,
                "retryReads": False,
            }
        },
    )
    manifests = render(helm_bin, tmp_path, chart("ingestor"), values)
    url = one(manifests, "Secret")["stringData"]["market-store-url"]
    assert dict(parse_uri(url)["options"]) == {
        "replicaSet": "rs0",
        "w": "majority",
        "journal": True,
        "readPreference": "secondaryPreferred",
        "readConcernLevel": "majority",
        "retryWrites": True,
        "retryReads": False,
        "authSource": "admin",  # the URL's own option is kept
    }
    # A SQL market store gets no MongoDB options.
    sql = merged(values, {"secrets": {"values": {"marketStoreUrl": "mysql+asyncmy://u:p@db/x"}}})
    manifests = render(helm_bin, tmp_path, chart("ingestor"), sql)
    assert one(manifests, "Secret")["stringData"]["market-store-url"] == "mysql+asyncmy://u:p@db/x"


def test_mongo_options_without_a_query_start_one(helm_bin: Path, tmp_path: Path) -> None:
    values = merged(
        minimal("api"),
        {
            "secrets": {"values": {"marketStoreUrl": "mongodb://m0,m1,m2/petrosa_data_manager"}},
            "mongo": {"replicaSet": "rs0"},
        },
    )
    url = one(render(helm_bin, tmp_path, chart("api"), values), "Secret")["stringData"][
        "market-store-url"
    ]
    assert parse_qs(urlsplit(url).query) == {"replicaSet": ["rs0"]}


# --- the umbrella --------------------------------------------------------------------------


def umbrella_production() -> dict[str, Any]:
    shared = production("backfiller")
    values: dict[str, Any] = {
        "global": {
            k: shared[k]
            for k in ("image", "config", "secrets", "nats", "mongo", "redis", "otel", "metrics")
        },
        "grafanaDashboard": {"enabled": True, "namespace": "monitoring"},
    }
    for component in COMPONENTS:
        own = production(component)
        values[component] = {
            "enabled": True,
            **{k: own[k] for k in ("autoscaling", "ingress", "keda") if k in own},
            "networkPolicy": own["networkPolicy"],
        }
    return values


def test_umbrella_installs_all_five_with_defaults(helm_bin: Path, tmp_path: Path) -> None:
    values = {
        "global": {
            "secrets": {"values": {k: v for k, v in minimal("api")["secrets"]["values"].items()}}
        }
    }
    manifests = render(helm_bin, tmp_path, UMBRELLA, values)
    deployments = of_kind(manifests, "Deployment")
    assert sorted(d["metadata"]["name"] for d in deployments) == sorted(
        f"dm-{c}" for c in COMPONENTS
    )
    for component in COMPONENTS:
        check_component(manifests, component)
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in deployments]
    assert len(set(selectors)) == 5  # no Service or policy selects another component's pods
    assert of_kind(manifests, "ConfigMap") and not [
        cm
        for cm in of_kind(manifests, "ConfigMap")
        if "grafana_dashboard" in cm["metadata"]["labels"]
    ]


def test_umbrella_with_production_values(helm_bin: Path, tmp_path: Path) -> None:
    manifests = render(helm_bin, tmp_path, UMBRELLA, umbrella_production())
    for component in COMPONENTS:
        deployment = check_component(manifests, component)
        assert container_of(deployment)["image"].endswith("@sha256:" + "ab" * 32)
        assert redis_env(deployment) == ("API_RATE_LIMIT_STORAGE" if component == "api" else "")
    assert of_kind(manifests, "Secret") == []  # the existing Secret of global.secrets
    assert len(of_kind(manifests, "PrometheusRule")) == 5
    assert {m["kind"] for m in manifests} >= {"ScaledObject", "HorizontalPodAutoscaler", "Ingress"}
    [dashboard] = [
        cm
        for cm in of_kind(manifests, "ConfigMap")
        if "grafana_dashboard" in cm["metadata"]["labels"]
    ]
    assert dashboard["metadata"]["namespace"] == "monitoring"
    shipped = (HELM_DIR.parent / "monitoring" / "grafana-dashboard.json").read_text()
    assert dashboard["data"]["petrosa-data-manager.json"] == shipped


def test_umbrella_leaves_out_a_disabled_component(helm_bin: Path, tmp_path: Path) -> None:
    values = {
        "global": {"secrets": {"existingSecret": "petrosa-dm"}},
        "analytics": {"enabled": False},
    }
    manifests = render(helm_bin, tmp_path, UMBRELLA, values)
    components = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in of_kind(manifests, "Deployment")
    }
    assert components == set(COMPONENTS) - {"analytics"}


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("component", COMPONENTS)
def test_schema_rejects_a_misspelled_key_and_a_wrong_type(
    component: str, helm_bin: Path, tmp_path: Path
) -> None:
    values = minimal(component)
    error = refusal(helm_bin, tmp_path, chart(component), values, "--set", "replicaCont=3")
    assert "additional properties 'replicaCont' not allowed" in error
    error = refusal(helm_bin, tmp_path, chart(component), values, "--set", "replicaCount=foo")
    assert "/replicaCount" in error and "want integer" in error
    error = refusal(
        helm_bin, tmp_path, chart(component), values, "--set", "resources.limits.cpux=1"
    )
    assert "'cpux' not allowed" in error
    error = refusal(helm_bin, tmp_path, chart(component), values, "--set", "petrosa-common.x=1")
    assert "additional properties 'x' not allowed" in error


def test_umbrella_schema_rejects_misspelled_and_mistyped_values(
    helm_bin: Path, tmp_path: Path
) -> None:
    values = {"global": {"secrets": {"existingSecret": "petrosa-dm"}}}
    error = refusal(helm_bin, tmp_path, UMBRELLA, values, "--set", "ingestor.replicaCount=foo")
    assert "ingestor" in error and "/replicaCount" in error
    error = refusal(helm_bin, tmp_path, UMBRELLA, values, "--set", "api.ingres.enabled=true")
    assert "'ingres' not allowed" in error
    error = refusal(
        helm_bin, tmp_path, UMBRELLA, values, "--set", "global.mongo.readPreference=any"
    )
    assert "readPreference" in error
    error = refusal(helm_bin, tmp_path, UMBRELLA, values, "--set", "ingestors.enabled=true")
    assert "'ingestors' not allowed" in error


@pytest.mark.parametrize(
    ("component", "values", "message"),
    [
        ("api", {"config": {"NATS_URL": "nats://u:p@nats:4222"}}, "NATS_URL"),
        ("ingestor", {"terminationGracePeriodSeconds": 20}, "must exceed"),
        ("api", {"preStopSleepSeconds": 30}, "must exceed"),
        (
            "ingestor",
            {
                "autoscaling": {"enabled": True},
                "keda": {"enabled": True, "monitoringEndpoint": "n:8222"},
            },
            "enable one",
        ),
        ("ingestor", {"keda": {"enabled": True}}, "keda.monitoringEndpoint"),
        ("api", {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}, "exceeds"),
        ("api", {"ingress": {"enabled": True}}, "ingress.hosts"),
        ("auditor", {"otel": {"enabled": True}}, "otel.endpoint"),
        (
            "auditor",
            {"secrets": {"values": {"metadataStoreUrl": ""}}},
            "metadataStoreUrl is required",
        ),
        ("api", {"secrets": {"values": {"apiKeys": ""}}}, "apiKeys is required"),
        ("api", {"redis": {"enabled": True}}, "redisUrl is required"),
        ("auditor", {"nats": {"auth": "token"}}, "natsToken is required"),
        ("auditor", {"nats": {"auth": "password"}}, "auth"),
        ("api", {"image": {"digest": "sha256:short"}}, "digest"),
    ],
)
def test_chart_refuses_values_that_cannot_work(
    component: str, values: dict[str, Any], message: str, helm_bin: Path, tmp_path: Path
) -> None:
    error = refusal(helm_bin, tmp_path, chart(component), merged(minimal(component), values))
    assert message in error


# --- lint and layout -----------------------------------------------------------------------


@pytest.mark.parametrize("target", [*COMPONENTS, "umbrella"])
@pytest.mark.parametrize("profile", ["defaults", "production"])
def test_helm_lint_strict_is_clean(
    target: str, profile: str, helm_bin: Path, tmp_path: Path
) -> None:
    if target == "umbrella":
        chart_dir = UMBRELLA
        values = umbrella_production() if profile == "production" else {"global": minimal("api")}
    else:
        chart_dir = chart(target)
        values = production(target) if profile == "production" else minimal(target)
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = helm(helm_bin, "lint", "--strict", str(chart_dir), "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout
    assert "0 chart(s) failed" in result.stdout


def test_charts_share_one_library_and_one_version() -> None:
    library = yaml.safe_load((LIBRARY / "Chart.yaml").read_text())
    assert library["type"] == "library"
    for chart_dir in (LIBRARY, UMBRELLA, *(chart(c) for c in COMPONENTS)):
        schema = json.loads((chart_dir / "values.schema.json").read_text())
        assert schema["type"] == "object" and schema["additionalProperties"] is False
    umbrella = yaml.safe_load((UMBRELLA / "Chart.yaml").read_text())
    assert umbrella["type"] == "application"
    aliases = {d["alias"]: d for d in umbrella["dependencies"]}
    assert sorted(aliases) == sorted(COMPONENTS)
    for component in COMPONENTS:
        meta = yaml.safe_load((chart(component) / "Chart.yaml").read_text())
        assert meta["type"] == "application"
        assert meta["appVersion"] == umbrella["appVersion"] == library["appVersion"]
        [dependency] = meta["dependencies"]
        assert dependency["name"] == "petrosa-common"
        assert dependency["version"] == library["version"]
        assert (chart(component) / "charts" / "petrosa-common").resolve() == LIBRARY
        assert aliases[component]["version"] == meta["version"]
        assert aliases[component]["condition"] == f"{component}.enabled"
        assert (UMBRELLA / "charts" / f"petrosa-{component}").resolve() == chart(component)
        linked = (chart(component) / "files" / "alerts.yaml").resolve()
        assert linked == HELM_DIR.parent / "monitoring" / "alerts.yaml"
        # Every chart's templates are one-line calls into the library.
        for template in (chart(component) / "templates").glob("*.yaml"):
            text = template.read_text().strip()
            assert text == f'{{{{- include "petrosa.{template.stem}" . }}}}'


# --- the processes accept what the charts give them ----------------------------------------

# What an existing Secret holds in the production values, as a process would read it.
SECRET_VALUES = {
    "market-store-url": "mongodb://petrosa:pw@m0,m1,m2/petrosa_data_manager?replicaSet=rs0",
    "metadata-store-url": "mysql+asyncmy://petrosa:pw@mariadb:3306/petrosa_data_manager",
    "nats-user": "ingest",
    "nats-password": "secret-0123",
    "redis-url": "redis://:pw@redis:6379/0",
}


def pod_environment(
    manifests: list[Manifest], deployment: Manifest, mounts: Path
) -> dict[str, str]:
    """The environment the pod's process starts with; mounted files become real files."""
    secrets = {
        key: value
        for secret in of_kind(manifests, "Secret")
        for key, value in secret["stringData"].items()
    } or SECRET_VALUES
    env = dict(configmap_data(deployment))
    for entry in container_of(deployment)["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            env[entry["name"]] = secrets[entry["valueFrom"]["secretKeyRef"]["key"]]
    ca = trustme.CA()
    client = ca.issue_cert("petrosa-client")
    contents = {
        "api-keys": b"deploy-test-key-0123:read\n",
        "nats-tls-ca": ca.cert_pem.bytes(),
        "nats-tls-cert": client.cert_chain_pems[0].bytes(),
        "nats-tls-key": client.private_key_pem.bytes(),
    }
    for name, value in env.items():
        if value.startswith("/etc/petrosa/"):
            local = mounts / value.removeprefix("/etc/petrosa/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(contents[local.name])
            env[name] = str(local)
    return env


@pytest.mark.parametrize("component", COMPONENTS)
@pytest.mark.parametrize("profile", ["defaults", "production"])
def test_each_component_accepts_the_environment_its_chart_gives_it(
    component: str,
    profile: str,
    helm_bin: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from petrosa_core.preflight import stray_variables
    from petrosa_core.settings import load_settings

    values = production(component) if profile == "production" else minimal(component)
    manifests = render(helm_bin, tmp_path, chart(component), values)
    deployment = check_component(manifests, component)
    env = pod_environment(manifests, deployment, tmp_path / "mounts")
    for name in [n for n in os.environ if n.startswith(("NATS_", "API_", "MARKET_", "METADATA_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    module = importlib.import_module(f"petrosa_{component}.settings")
    [cls] = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, CoreSettings) and c.__module__ == module.__name__
    ]
    settings = load_settings(cls)
    assert settings.nats_url == env["NATS_URL"]
    assert settings.metrics_port == int(env["METRICS_PORT"])
    assert settings.nats_stream_replicas == (3 if profile == "production" else 1)
    assert stray_variables(env, own=cls.model_fields) == []
    if profile == "production":
        assert settings.otel_exporter_otlp_endpoint == "http://otel-collector.observability:4318"
    if component == "api" and profile == "production":
        assert settings.api_rate_limit_storage == SECRET_VALUES["redis-url"]


def test_component_schemas_agree_on_every_shared_value() -> None:
    """The five schemas describe the settings they share identically (no drift)."""
    schemas = {
        c: json.loads((chart(c) / "values.schema.json").read_text())["properties"]
        for c in COMPONENTS
    }
    shared = set.intersection(*(set(props) for props in schemas.values()))
    assert {"image", "config", "secrets", "nats", "mongo", "otel", "probes", "metrics"} <= shared
    for key in shared - {"networkPolicy"}:
        assert len({json.dumps(props[key], sort_keys=True) for props in schemas.values()}) == 1, key
    umbrella_global = json.loads((UMBRELLA / "values.schema.json").read_text())["properties"][
        "global"
    ]["properties"]
    for key in set(umbrella_global) - {"networkPolicy"}:
        assert key in shared, key


def test_the_example_production_values_render_and_lint_clean(
    helm_bin: Path, tmp_path: Path
) -> None:
    """deploy/helm/examples/production.yaml, which docs/deployment.md points to."""
    example = HELM_DIR / "examples" / "production.yaml"
    values = yaml.safe_load(example.read_text())
    manifests = render(helm_bin, tmp_path, UMBRELLA, values)
    for component in COMPONENTS:
        deployment = check_component(manifests, component)
        assert configmap_data(deployment)["NATS_STREAM_REPLICAS"] == "3"
        assert container_of(deployment)["resources"]
    kinds = {m["kind"] for m in manifests}
    assert {"ScaledObject", "HorizontalPodAutoscaler", "Ingress", "ServiceMonitor"} <= kinds
    assert "Secret" not in kinds
    result = helm(helm_bin, "lint", "--strict", str(UMBRELLA), "-f", str(example))
    assert result.returncode == 0 and "[WARNING]" not in result.stdout, result.stdout
