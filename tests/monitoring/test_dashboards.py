"""Grafana dashboards: committed JSON equals the generated one, required panels, valid PromQL."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from pipelines.cli import main
from pipelines.monitoring import dashboards, promql
from tests.conftest import REPO_ROOT, require_tool

GRAFANA = REPO_ROOT / "monitoring" / "grafana"
REQUIRED = {
    "system": ["CPU", "Memory", "Request rate", "Error rate", "Latency p50 / p95 / p99"],
    "trading": [
        "Rolling 7-day Sharpe",
        "Daily PnL",
        "Win rate",
        "Drawdown",
        "Open positions",
        "Prediction accuracy",
        "Prediction confidence distribution",
        "Signal answer rate",
        "Paper orders",
    ],
    "pipeline": [
        "Data freshness",
        "Feature completeness",
        "Pipeline success rate",
        "Processing latency",
        "PSI per feature",
        "Deployed model version",
        "Hourly checks",
        "Outliers",
        "Value range",
        "Correlation stability",
        "Feature importance",
        "Prediction power",
        "Confidence distribution shift",
        "Success criteria",
        "Pipeline success rate (30 days)",
        "Deployments per week",
        "Rollback time",
        "MTTD and MTTR",
    ],
}
# Grafana variables replaced by plausible values so promtool can parse the expressions.
GRAFANA_VARS = {"$__rate_interval": "5m", "$bars_per_year": "252", "$feature": ".*"}


def test_committed_dashboards_are_the_generated_ones():
    assert main(["monitor", "dashboards", "--out", str(GRAFANA), "--check"]) == 0


def test_check_fails_on_a_hand_edited_dashboard(tmp_path, capsys):
    assert main(["monitor", "dashboards", "--out", str(tmp_path)]) == 0
    edited = json.loads((tmp_path / "system.json").read_text())
    edited["title"] = "edited by hand"
    (tmp_path / "system.json").write_text(json.dumps(edited))
    assert main(["monitor", "dashboards", "--out", str(tmp_path), "--check"]) == 1
    assert "system.json: differs from the generated dashboard" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_panels(name):
    titles = [p["title"] for p in json.loads((GRAFANA / f"{name}.json").read_text())["panels"]]
    for wanted in REQUIRED[name]:
        assert any(t.startswith(wanted) for t in titles), (name, wanted, titles)


def test_every_panel_expression_is_valid_promql(tmp_path):
    promtool = require_tool("promtool")
    rules = []
    for name in dashboards.BUILDERS:
        board = json.loads((GRAFANA / f"{name}.json").read_text())
        for i, (where, expr) in enumerate(promql.dashboard_expressions(board, name)):
            if "label_values" in expr:
                continue
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, where
            rules.append({"record": f"dashboard:{name}:{i}", "expr": expr})
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(rules) >= 25


def test_confidence_is_a_distribution_not_a_mean():
    board = json.loads((GRAFANA / "trading.json").read_text())
    heatmap = next(p for p in board["panels"] if p["title"] == "Prediction confidence distribution")
    assert heatmap["type"] == "heatmap"
    target = heatmap["targets"][0]
    assert (
        target["format"] == "heatmap" and "strategy_prediction_confidence_bucket" in target["expr"]
    )
    assert not any("confidence_sum" in t["expr"] for p in board["panels"] for t in p["targets"])


def test_the_success_row_spans_the_width_above_its_panels():
    board = json.loads((GRAFANA / "pipeline.json").read_text())
    index = next(i for i, p in enumerate(board["panels"]) if p["type"] == "row")
    row, after = board["panels"][index], board["panels"][index + 1]
    assert row["gridPos"]["w"] == 24 and after["gridPos"]["x"] == 0
    assert after["gridPos"]["y"] == row["gridPos"]["y"] + 1
