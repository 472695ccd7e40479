"""Every PromQL expression in rules, dashboards and AnalysisTemplates names exported metrics."""

from __future__ import annotations

import json

import pytest
import yaml

from pipelines.monitoring import metric_check, promql
from pipelines.monitoring.metric_names import exported_series_names
from tests.conftest import REPO_ROOT


def test_repository_uses_only_exported_metric_names():
    found, checked = metric_check.check_repository(REPO_ROOT)
    assert found == []
    assert checked >= 18  # the alert rules alone; dashboards and templates add more


def _mini_repo(tmp_path, expr):
    rules = tmp_path / "monitoring" / "prometheus" / "rules"
    rules.mkdir(parents=True)
    doc = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr, "for": "1m"}]}]}
    (rules / "a.rules.yml").write_text(yaml.safe_dump(doc))
    (tmp_path / "environments").mkdir()
    return tmp_path


def test_a_rule_naming_an_unknown_metric_fails(tmp_path):
    root = _mini_repo(tmp_path, 'sum(rate(strategy_requestz_total{code="500"}[5m])) > 1')
    found, _ = metric_check.check_repository(root)
    assert found == [
        "monitoring/prometheus/rules/a.rules.yml: group g rule A: unknown metric "
        "'strategy_requestz_total' (not in metric_names.py)"
    ]


def test_analysis_templates_and_dashboards_are_checked(tmp_path):
    root = _mini_repo(tmp_path, "strategy_ready == 0")
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "t"},
        "spec": {
            "metrics": [
                {
                    "name": "m",
                    "provider": {
                        "prometheus": {
                            "query": "sum(rate(made_up_errors_total"
                            '{rollouts_pod_template_hash="{{args.hash}}"}'
                            "[{{args.window}}]))"
                        }
                    },
                }
            ]
        },
    }
    (root / "environments" / "t.yaml").write_text(yaml.safe_dump(template))
    grafana = root / "monitoring" / "grafana"
    grafana.mkdir()
    dash = {
        "panels": [
            {"title": "p", "targets": [{"expr": "rate(nope_seconds_count[$__rate_interval])"}]}
        ]
    }
    (grafana / "d.json").write_text(json.dumps(dash))
    found, checked = metric_check.check_repository(root)
    assert checked == 3
    assert any("made_up_errors_total" in line for line in found)
    assert any("nope_seconds_count" in line for line in found)


@pytest.mark.parametrize(
    ("expr", "metrics"),
    [
        (
            'histogram_quantile(0.99, sum by (le) (rate(a_bucket{job=~"x.*", le!="1"}[5m]))) > 0.2',
            {"a_bucket"},
        ),
        ("a / on(instrument) group_left(model_version) b offset 1h30m > 1e-3", {"a", "b"}),
        ("sum(rate(a[5m:1m])) by (le) and bool b unless c or d", {"a", "b", "c", "d"}),
        ('time() - a{p="by (x) or y"} > 2 * 86400', {"a"}),
        ("label_values(feature_psi, feature)", {"feature_psi"}),
        ("max_over_time(a[$__range]) > {{args.threshold}}", {"a"}),
        ("a > Inf or b < NaN", {"a", "b"}),
    ],
)
def test_tokenizer(expr, metrics):
    assert promql.names_in(expr).metrics == metrics


def test_unknown_function_is_reported():
    assert promql.names_in("ratez(a[5m])").unknown_functions == {"ratez"}


def test_counter_and_histogram_suffixes_are_exported():
    names = exported_series_names()
    assert {"strategy_request_latency_seconds_bucket", "strategy_requests_total", "up"} - names == {
        "up"
    }
