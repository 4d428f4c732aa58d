"""The alert rules and the Grafana dashboard in deploy/monitoring, checked as promtool would.

Every query is parsed by a real PromQL parser, and every series and label it names must be
one the processes export: the metric names and label names come from the Prometheus
registry after importing every module of the core and the five services, which is where
each process registers its metrics.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import promql_parser
import pytest
from prometheus_client import REGISTRY

from tests.deploy.charts import COMPONENTS, MONITORING, alert_groups

PACKAGES = ("petrosa_core", *(f"petrosa_{c}" for c in COMPONENTS))
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}
# What a Prometheus alert annotation may use: the value, the labels and humanize filters.
ANNOTATION_ACTION = re.compile(
    r"\{\{ (\$value|\$labels\.(\w+))"
    r"( \| (humanize|humanizeDuration|humanizePercentage))? \}\}"
)
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@dataclass
class Series:
    kind: str
    labels: set[str] = field(default_factory=set)


@cache
def exported() -> dict[str, Series]:
    """Series name -> its type and label names, for every metric any process registers."""
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    series: dict[str, Series] = {}
    for collector in list(REGISTRY._collector_to_names):  # every registered collector
        labels = set(getattr(collector, "_labelnames", ()))
        for family in collector.collect():
            if not family.name.startswith("data_manager_"):
                continue
            kind = "histogram" if family.type == "histogram" else family.type
            for suffix in SUFFIXES.get(kind, ("",)):
                extra = {"le"} if suffix == "_bucket" else set()
                series[family.name + suffix] = Series(kind, labels | extra)
    return series


@dataclass
class Query:
    selectors: list[tuple[str, set[str]]] = field(default_factory=list)  # name, matcher labels
    grouping: set[str] = field(default_factory=set)


def parsed(expr: str) -> Query:
    """The series and labels ``expr`` names; raises ValueError if it is not PromQL."""
    found = Query()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            labels = {m.name for m in node.matchers.matchers if m.name != "__name__"}
            found.selectors.append((node.name, labels))
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            if node.modifier.type == promql_parser.AggModifierType.By:
                found.grouping |= set(node.modifier.labels)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def check_query(expr: str) -> Query:
    query = parsed(expr)
    series = exported()
    assert query.selectors, f"{expr} reads no series"
    for name, labels in query.selectors:
        assert name in series, f"{name} is not a series any process exports ({expr})"
        assert labels <= series[name].labels, f"{name} has no label {labels} ({expr})"
    available = set().union(*(series[name].labels for name, _ in query.selectors))
    assert query.grouping <= available, f"grouping by a label no series has: {expr}"
    return query


def rules() -> Iterator[tuple[str, dict[str, Any]]]:
    for group in alert_groups()["groups"]:
        for rule in group["rules"]:
            yield group["name"], rule


def rule_id(item: tuple[str, dict[str, Any]]) -> str:
    return str(item[1]["alert"])


# --- what the checks themselves catch -------------------------------------------------


def test_the_registry_holds_every_component_s_metrics() -> None:
    series = exported()
    for name in (
        "data_manager_messages_processed_total",  # ingestor
        "data_manager_audit_health_score",  # auditor
        "data_manager_backfill_jobs_total",  # backfiller
        "data_manager_binance_rate_limited_total",
        "data_manager_requests_total",  # api
        "data_manager_request_duration_seconds_bucket",
        "data_manager_leader_status",  # core
    ):
        assert name in series, name
    assert series["data_manager_leader_status"].labels == {"lease"}
    assert "le" in series["data_manager_ingest_latency_seconds_bucket"].labels


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("rate(data_manager_messages_processed_total[5m]", "unclosed"),
        ("sum(rate(data_manager_nonexistent_total[5m]))", "is not a series"),
        ('data_manager_leader_status{leese="auditor"}', "has no label"),
        ("sum by (symbol) (data_manager_audit_health_score)", "grouping by a label"),
        ("data_manager_requests", "is not a series"),  # a counter is exported with _total
    ],
)
def test_a_wrong_query_is_caught(expr: str, problem: str) -> None:
    with pytest.raises((AssertionError, ValueError), match=problem):
        check_query(expr)


# --- alert rules ----------------------------------------------------------------------


def test_alert_rules_have_one_group_per_component() -> None:
    groups = alert_groups()["groups"]
    assert [g["name"] for g in groups] == [f"petrosa-{c}" for c in COMPONENTS]
    names = [rule["alert"] for _, rule in rules()]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"Petrosa[A-Z][A-Za-z0-9]+", name) for name in names)


@pytest.mark.parametrize("item", list(rules()), ids=rule_id)
def test_alert_rule_is_valid(item: tuple[str, dict[str, Any]]) -> None:
    _, rule = item
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
    query = check_query(rule["expr"])
    if "for" in rule:  # absent means at once
        promql_parser.parse_duration(rule["for"])  # raises on a malformed duration
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert {"summary", "description"} <= set(rule["annotations"])
    labels_in_scope = query.grouping
    for text in rule["annotations"].values():
        for action in re.findall(r"\{\{.*?\}\}", text):
            match = ANNOTATION_ACTION.fullmatch(action)
            assert match, f"{rule['alert']}: {action} is not a template Prometheus expands"
            if match[2]:
                assert match[2] in labels_in_scope, f"{rule['alert']}: $labels.{match[2]}"


def test_alerts_cover_what_operators_must_hear_about() -> None:
    """Ingest stalled or lagging, dead letters, no auditor leader, health, backfill, 429/418."""
    by_name = {rule["alert"]: rule["expr"] for _, rule in rules()}
    expected = {
        "PetrosaIngestStalled": "data_manager_messages_processed_total",
        "PetrosaIngestLagging": "data_manager_ingest_latency_seconds_bucket",
        "PetrosaIngestBacklogGrowing": "data_manager_ingest_consumer_pending",
        "PetrosaDeadLettersRising": "data_manager_dead_letters_total",
        "PetrosaNoAuditorLeader": 'data_manager_leader_status{lease="auditor"}',
        "PetrosaDatasetHealthLow": "data_manager_audit_health_score",
        "PetrosaBackfillFailures": 'data_manager_backfill_jobs_total{status="failed"}',
        "PetrosaBinanceRateLimited": 'data_manager_binance_rate_limited_total{status="429"}',
        "PetrosaBinanceIpBanned": 'data_manager_binance_rate_limited_total{status="418"}',
    }
    for alert, series in expected.items():
        assert series in by_name[alert], alert


def test_alert_label_values_are_ones_the_code_sets() -> None:
    """The lease names and the job status the rules match on are the code's own."""
    from petrosa_analytics.settings import AnalyticsSettings
    from petrosa_auditor.settings import AuditorSettings
    from petrosa_core.metadata import JobStatus

    text = (MONITORING / "alerts.yaml").read_text()
    auditor = AuditorSettings.model_fields["audit_lease_name"].default
    analytics = AnalyticsSettings.model_fields["analytics_lease_name"].default
    assert f'lease="{auditor}"' in text and f'lease="{analytics}"' in text
    assert f'status="{JobStatus.FAILED.value}"' in text


# --- dashboard ------------------------------------------------------------------------


@cache
def dashboard() -> dict[str, Any]:
    data = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert isinstance(data, dict)
    return data


def targets() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def grafana_free(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


@pytest.mark.parametrize(("title", "expr"), targets(), ids=[t for t, _ in targets()])
def test_dashboard_query_reads_exported_series(title: str, expr: str) -> None:
    check_query(grafana_free(expr))


def test_dashboard_shows_what_the_issue_lists() -> None:
    """Ingest rate and lag, dead letters, write latency, backfill jobs and weight, health, API."""
    used = " ".join(expr for _, expr in targets())
    for series in (
        "data_manager_messages_processed_total",
        "data_manager_ingest_consumer_pending",
        "data_manager_ingest_latency_seconds_bucket",
        "data_manager_dead_letters_total",
        "data_manager_ingest_write_seconds_bucket",
        "data_manager_backfill_jobs_running",
        "data_manager_binance_used_weight",
        "data_manager_audit_health_score",
        "data_manager_requests_total",
        "data_manager_request_duration_seconds_bucket",
        "data_manager_errors_total",
        "data_manager_database_operations_total",
        "data_manager_active_connections",
    ):
        assert series in used, series


def test_dashboard_is_a_well_formed_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"] == "petrosa-data-manager"
    [variable] = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"panel {panel['title']} overlaps another"
        cells |= area
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert [t["refId"] for t in panel["targets"]] == [
                chr(65 + i) for i in range(len(panel["targets"]))
            ]
