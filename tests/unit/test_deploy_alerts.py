"""The PrometheusRule alerts: structure, PromQL, runbooks, and `promtool` check and unit tests.

promtool comes from Debian's ``prometheus`` package
(``apt-get install -y --no-install-recommends prometheus``); without it the promtool tests
fail with that hint, they are never skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "k8s" / "base" / "prometheusrule.yaml"
RULE_TESTS = REPO / "deploy" / "k8s" / "tests" / "alerts.test.yaml"
OPERATING = REPO / "docs" / "OPERATING.md"
SEVERITIES = {"critical", "warning", "info"}
PROMTOOL_HINT = (
    "promtool not found: install it with "
    "`apt-get install -y --no-install-recommends prometheus` (Debian ships /usr/bin/promtool)"
)
# The alerts the Operability issue asks for, by what they watch.
REQUIRED_ALERTS = {
    "IoBridgeConsumerLagHigh",  # consumer lag too large
    "IoBridgeNoProgress",  # last progress too old while lag > 0
    "IoBridgeDeadLetterRate",  # DLQ rate
    "IoBridgeJobFailureRate",  # IO job failure rate
    "IoBridgeIoApiErrorRate",  # 5xx / transport errors
    "IoBridgeTokenRefreshFailing",  # token failures
}


def prometheus_rule() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return doc


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in prometheus_rule()["spec"]["groups"] for rule in group["rules"]]


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub generates for the headings of a Markdown document."""
    anchors = set()
    for line in markdown.splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(PROMTOOL_HINT)
    return path


def test_prometheus_rule_is_a_monitoring_coreos_com_v1_resource() -> None:
    """The file is one PrometheusRule with named groups of rules."""
    doc = prometheus_rule()
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["name"] == "io-bridge"
    groups = doc["spec"]["groups"]
    assert isinstance(groups, list)
    assert groups
    for group in groups:
        assert isinstance(group["name"], str)
        assert isinstance(group["rules"], list)
        assert group["rules"]


def test_the_required_alerts_exist_once_each() -> None:
    """Lag, no progress, DLQ, job failures, API errors and token failures each have an alert."""
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED_ALERTS


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_each_alert_has_expr_for_severity_and_annotations(rule: dict[str, Any]) -> None:
    """Each alert has a parsable expr, a for duration, a severity and the three annotations."""
    assert re.fullmatch(r"IoBridge[A-Z][A-Za-z]+", rule["alert"])
    promql_parser.parse(rule["expr"])
    assert promql_parser.parse_duration(rule["for"]).total_seconds() > 0
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    for key in ("summary", "description", "runbook_url"):
        assert isinstance(annotations[key], str)
        assert annotations[key].strip(), key
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_each_runbook_url_points_to_a_section_of_the_operating_guide(
    rule: dict[str, Any],
) -> None:
    """runbook_url is docs/OPERATING.md#<anchor> and that heading exists in the guide."""
    path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
    assert path == "docs/OPERATING.md"
    assert anchor in github_anchors(OPERATING.read_text())


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    """`promtool check rules` validates the rule groups, expressions and annotation templates."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": prometheus_rule()["spec"]["groups"]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts_pass(tmp_path: Path) -> None:
    """The alerts fire (and stay silent) as deploy/k8s/tests/alerts.test.yaml expects."""
    groups = prometheus_rule()["spec"]["groups"]
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    result = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_promtool_case_where_it_fires() -> None:
    """Each alert has at least one promtool case that expects it to fire."""
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alert_rules()} - firing == set()
