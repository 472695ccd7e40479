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
        "Fill rate",
    ],
    "pipeline": [
        "Data freshness",
        "Feature completeness",
        "Pipeline success rate",
        "Processing latency",
        "PSI per feature",
        "Deployed model version",
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
