"""Alert rules: promtool checks and unit tests, the specification's alert list, annotations,
runbook links, and the 5-minute detection bound of every critical alert."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO_ROOT, require_tool
from tests.monitoring.rules_helpers import (
    ALERTMANAGER,
    PROM_DIR,
    RULE_FILES,
    TEST_FILES,
    alerts,
    duration_seconds,
    load,
)

# The specification's alerts (plus staleness per pipeline) and their severities.
EXPECTED = {
    "TradingSystemDown": "critical",
    "CircuitBreakerOpen": "critical",
    "DailyLossOver5Percent": "critical",
    "DataPipelineFailed": "critical",
    "ModelDeploymentFailed": "critical",
    "FeaturePSICritical": "critical",
    "StrategyServiceNotReady": "critical",
    "LatencyP99High": "warning",
    "WinRateLow": "warning",
    "FeaturePSIHigh": "warning",
    "MissingDataHigh": "warning",
    "ModelConfidenceLow": "warning",
    "DataPipelineStale": "warning",
    "TrainingPipelineStale": "warning",
    "FeatureHealthStale": "warning",
    "DataPipelineSLAMissed": "warning",
    "TrainingPipelineSLAMissed": "warning",
    "StrategyModelVersionSkew": "warning",
    "ModelPromotedToStaging": "info",
    "DeploymentCompleted": "info",
    "WeeklyPerformanceReport": "info",
    "DataPipelineCompleted": "info",
    # The hourly checks besides PSI and missing rate (health.rules.yml).
    **{
        f"{name}{suffix}": severity
        for name in (
            "FeatureOutliers",
            "FeatureOutOfRange",
            "FeatureCorrelationShift",
            "FeatureImportanceShift",
            "PredictionPowerDecay",
            "ModelConfidenceShift",
        )
        for suffix, severity in (("Critical", "critical"), ("High", "warning"))
    },
}
DETECTION_BUDGET_SECONDS = 300


def test_promtool_check_rules_and_config():
    promtool = require_tool("promtool")
    subprocess.run(
        [promtool, "check", "rules", *map(str, RULE_FILES)], check=True, capture_output=True
    )
    subprocess.run(
        [promtool, "check", "config", str(PROM_DIR / "prometheus.yml")],
        check=True,
        capture_output=True,
        cwd=PROM_DIR,
    )


def test_promtool_unit_tests_pass():
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", *map(str, TEST_FILES)],
        capture_output=True,
        text=True,
        cwd=PROM_DIR / "tests",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_slower_rule(tmp_path):
    """The tests are not vacuous: paging one minute later breaks them."""
    promtool = require_tool("promtool")
    shutil.copytree(PROM_DIR / "rules", tmp_path / "rules")
    shutil.copytree(PROM_DIR / "tests", tmp_path / "tests")
    rules = tmp_path / "rules" / "strategy.rules.yml"
    rules.write_text(rules.read_text().replace("for: 4m", "for: 5m", 1))
    result = subprocess.run(
        [promtool, "test", "rules", "strategy.test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path / "tests",
    )
    assert result.returncode != 0
    assert "TradingSystemDown" in result.stdout + result.stderr


def test_every_specified_alert_exists_with_its_severity():
    found = {a["alert"]: a["labels"]["severity"] for a in alerts()}
    assert found == EXPECTED


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_alert_has_for_severity_summary_and_a_runbook_in_the_repo(alert):
    assert "for" in alert and duration_seconds(alert["for"]) > 0
    assert alert["labels"]["severity"] in {"critical", "warning", "info"}
    assert alert["annotations"]["summary"].strip()
    url = alert["annotations"]["runbook_url"]
    path, _, anchor = url.partition("#")
    target = REPO_ROOT / path
    assert path.startswith("docs/") and target.is_file(), url
    if anchor:
        headings = re.findall(r"^#+\s+(.+)$", target.read_text(), flags=re.M)
        slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-") for h in headings}
        assert anchor in slugs, f"{url}: no heading for #{anchor}"
    if alert["labels"]["severity"] in {"critical", "warning"}:
        assert path.startswith("docs/playbooks/") and not anchor, "a playbook of its own"
        title = target.read_text().splitlines()[0]
        assert title.startswith(f"# Playbook: {alert['alert']} ("), (url, title)


def test_every_critical_and_warning_alert_has_its_own_playbook():
    paging = [a for a in alerts() if a["labels"]["severity"] in {"critical", "warning"}]
    urls = [a["annotations"]["runbook_url"] for a in paging]
    assert len(urls) == len(set(urls)), "two alerts share a playbook"
    playbooks = {f"docs/playbooks/{p.name}" for p in (REPO_ROOT / "docs/playbooks").glob("*.md")}
    assert set(urls) == playbooks, "a playbook no alert links to, or an alert without one"


def test_every_alert_has_a_not_yet_case_and_a_firing_case():
    quiet, firing = set(), set()
    for path in TEST_FILES:
        for test in load(path)["tests"]:
            for case in test.get("alert_rule_test") or []:
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = set(EXPECTED)
    assert names - quiet == set(), "alerts without a must-not-fire case"
    assert names - firing == set(), "alerts without a firing case"


def test_critical_alerts_are_detected_within_five_minutes():
    """for + scrape interval + rule evaluation interval + the page route's group_wait."""
    config = load(PROM_DIR / "prometheus.yml")["global"]
    scrape = duration_seconds(config["scrape_interval"])
    evaluation = duration_seconds(config["evaluation_interval"])
    route = yaml.safe_load(ALERTMANAGER.read_text())["route"]
    page = next(r for r in route["routes"] if r["matchers"] == ['severity="critical"'])
    group_wait = duration_seconds(page["group_wait"])
    for alert in alerts():
        if alert["labels"]["severity"] != "critical":
            continue
        bound = duration_seconds(alert["for"]) + scrape + evaluation + group_wait
        assert bound <= DETECTION_BUDGET_SECONDS, (alert["alert"], bound)
    # The promtool tests use the same evaluation interval as the server.
    for path in TEST_FILES:
        if "daily" not in path.name:
            assert duration_seconds(load(path)["evaluation_interval"]) == evaluation
