"""The alert rules and the Grafana dashboard query only metrics and labels that Metrics defines."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from service.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "k8s" / "base" / "prometheusrule.yaml"
DASHBOARD = REPO / "deploy" / "k8s" / "dashboards" / "io-bridge.json"

# Labels that Prometheus adds to every scraped series (ServiceMonitor targets).
TARGET_LABELS = frozenset(
    {"namespace", "pod", "job", "instance", "service", "container", "endpoint"}
)
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
}


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    labels: frozenset[str]


@functools.cache
def families() -> tuple[Family, ...]:
    """Every collector of a fresh Metrics object, with its type and label names."""
    metrics = Metrics(CollectorRegistry())
    return tuple(
        Family(c._name, str(c._type), frozenset(c._labelnames))
        for c in vars(metrics).values()
        if isinstance(c, MetricWrapperBase)
    )


@functools.cache
def exposed_names() -> dict[str, Family]:
    """Series names as Prometheus stores them (counter ``_total``, histogram ``_bucket`` …)."""
    names: dict[str, Family] = {}
    for family in families():
        for suffix in SUFFIXES[family.kind]:
            names[family.name + suffix] = family
    return names


def rule_exprs() -> dict[str, str]:
    doc = yaml.safe_load(RULES.read_text())
    return {
        rule["alert"]: rule["expr"] for group in doc["spec"]["groups"] for rule in group["rules"]
    }


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_exprs() -> dict[str, str]:
    """PromQL of every panel target, keyed by panel title and refId."""
    exprs: dict[str, str] = {}

    def visit(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                exprs[f"{panel['title']} [{target['refId']}]"] = target["expr"]
            visit(panel.get("panels", []))

    visit(_dashboard()["panels"])
    return exprs


def dashboard_variable_queries() -> list[str]:
    queries = []
    for variable in _dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            queries.append(query["query"] if isinstance(query, dict) else query)
    return queries


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's template variables so the parser sees plain PromQL."""
    expr = re.sub(r"\$__(rate_interval|interval|range)", "5m", expr)
    return re.sub(r"\$\{?\w+\}?", "x", expr)


@dataclass
class Usage:
    metrics: set[str]
    labels: set[str]


def usage(expr: str) -> Usage:
    """Metric names and label names (selectors, by/on clauses) used by one expression."""
    found = Usage(set(), set())

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                found.metrics.add(node.name)
            found.labels.update(m.name for m in node.matchers.matchers if m.name != "__name__")
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier:
            found.labels.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier:
            if node.modifier.matching:
                found.labels.update(node.modifier.matching.labels)
            found.labels.update(node.modifier.group_labels or [])

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def all_exprs() -> dict[str, str]:
    exprs = {f"alert {name}": expr for name, expr in rule_exprs().items()}
    exprs.update(
        {f"panel {key}": grafana_to_promql(expr) for key, expr in dashboard_exprs().items()}
    )
    return exprs


@pytest.mark.parametrize(("where", "expr"), sorted(all_exprs().items()))
def test_every_queried_metric_exists_in_metrics(where: str, expr: str) -> None:
    """Each metric selected by an alert or a dashboard panel is a series Metrics exposes."""
    used = usage(expr)
    assert used.metrics, f"{where}: selects no metric"
    unknown = used.metrics - exposed_names().keys()
    assert unknown == set(), f"{where}: not defined in service/metrics.py: {sorted(unknown)}"


@pytest.mark.parametrize(("where", "expr"), sorted(all_exprs().items()))
def test_every_queried_label_exists_on_the_metrics_of_the_expression(where: str, expr: str) -> None:
    """Selector and by/on labels are labels of the queried metrics, target labels or ``le``."""
    used = usage(expr)
    known = exposed_names()
    allowed = set(TARGET_LABELS)
    for name in used.metrics:
        allowed |= known[name].labels
        if name.endswith("_bucket"):
            allowed.add("le")
    assert used.labels - allowed == set(), f"{where}: unknown labels"


def test_dashboard_variables_query_known_metrics() -> None:
    """The dashboard's label_values() variables read a metric that Metrics exposes."""
    queries = dashboard_variable_queries()
    assert queries
    for query in queries:
        match = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?,\s*(\w+)\)", query)
        assert match, f"unexpected variable query {query!r}"
        assert match.group(1) in exposed_names()
        assert match.group(3) in TARGET_LABELS | exposed_names()[match.group(1)].labels


def test_dashboard_charts_every_metric_family() -> None:
    """Every collector in Metrics appears in at least one dashboard panel."""
    charted = {
        exposed_names()[name].name
        for expr in dashboard_exprs().values()
        for name in usage(grafana_to_promql(expr)).metrics
    }
    assert {family.name for family in families()} - charted == set()


def test_dashboard_panels_have_unique_ids_and_a_templated_datasource() -> None:
    """Panel ids are unique and every panel reads the ${datasource} variable, not a fixed uid."""
    dashboard = _dashboard()
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "io-bridge"
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_operating_guide_lists_every_metric_family() -> None:
    """docs/OPERATING.md names every collector of Metrics in its metrics table."""
    guide = (REPO / "docs" / "OPERATING.md").read_text()
    documented = {
        f.name
        for f in families()
        if f"`{f.name}{'_total' if f.kind == 'counter' else ''}`" in guide
    }
    assert {f.name for f in families()} - documented == set()
