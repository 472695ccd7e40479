"""The pure canary verdict and the AnalysisTemplate's shape (guards, args, PromQL syntax)."""

from __future__ import annotations

import math
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from pipelines.delivery.analysis import SideStats, Thresholds, analyse, thresholds_from_settings
from pipelines.errors import ConfigError
from pipelines.monitoring.metric_names import exported_series_names
from tests.conftest import require_tool

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "environments" / "base" / "analysis" / "strategy-canary-analysis.yaml"
LIMITS = Thresholds(0.01, 0.2, 0.2, 0.05, 5, 30, "10m")


def side(**kw: float | None) -> SideStats:
    base: dict[str, float | None] = dict(
        requests=1000,
        errors=0,
        latency_p99=0.005,
        trips_per_hour=0,
        returns=200,
        return_sum=2.0,
        return_squared_sum=0.04,
        wins=120,
        losses=80,
    )
    base.update(kw)
    return SideStats(**base)


def outcomes(canary: SideStats, stable: SideStats | None = None) -> dict[str, str]:
    result = analyse(canary, stable or side(), LIMITS)
    return {c.name: c.outcome for c in result.checks} | {"overall": result.outcome}


def test_identical_canary_passes() -> None:
    got = outcomes(side())
    assert set(got.values()) == {"pass"}


@pytest.mark.parametrize(
    ("canary", "failing"),
    [
        (side(errors=11), "error_rate"),
        (side(latency_p99=0.25), "latency_p99_seconds"),
        (side(trips_per_hour=6), "circuit_breaker_trips_per_hour"),
        (side(return_sum=1.0), "sharpe_drop"),
        (side(wins=100, losses=100), "win_rate_drop"),
    ],
)
def test_each_trigger_fails_its_own_check(canary: SideStats, failing: str) -> None:
    got = outcomes(canary)
    assert got[failing] == "fail" and got["overall"] == "fail"
    assert [k for k, v in got.items() if v == "fail" and k != "overall"] == [failing]


def test_boundaries_are_inclusive_limits() -> None:
    assert outcomes(side(errors=10))["error_rate"] == "pass"
    assert outcomes(side(latency_p99=0.2))["latency_p99_seconds"] == "pass"


def test_too_few_trades_is_inconclusive_not_pass() -> None:
    got = outcomes(side(returns=29, return_sum=0.29, return_squared_sum=0.0058, wins=17, losses=12))
    assert got["sharpe_drop"] == "inconclusive" and got["overall"] == "inconclusive"
    assert analyse(side(returns=5), side(), LIMITS).exit_code == 3


def test_missing_metrics_fail_closed() -> None:
    got = outcomes(side(requests=None, latency_p99=None, trips_per_hour=None))
    assert got["error_rate"] == got["latency_p99_seconds"] == "fail"
    assert got["circuit_breaker_trips_per_hour"] == "fail"
    assert analyse(side(latency_p99=math.nan), side(), LIMITS).exit_code == 1


def test_thresholds_come_from_settings(repo_root: Path) -> None:
    prod = yaml.safe_load((repo_root / "environments" / "prod" / "settings.yaml").read_text())
    got = thresholds_from_settings(prod)
    assert got == LIMITS
    with pytest.raises(ConfigError, match=r"analysis.min_trades: expected a number"):
        thresholds_from_settings({"analysis": {**prod["analysis"], "min_trades": "x"}})


def load_template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


def test_template_args_equal_prod_settings(repo_root: Path) -> None:
    prod = yaml.safe_load((repo_root / "environments" / "prod" / "settings.yaml").read_text())
    args = {a["name"]: a.get("value") for a in load_template()["spec"]["args"]}
    for key, value in prod["analysis"].items():
        name = key.replace("_", "-")
        assert args[name] is not None and yaml.safe_load(args[name]) == value, key


def test_every_condition_is_guarded_and_limited() -> None:
    for metric in load_template()["spec"]["metrics"]:
        assert "failureLimit" in metric and "consecutiveErrorLimit" in metric, metric["name"]
        if "prometheus" not in metric["provider"]:
            assert "job" in metric["provider"]
            continue
        for key in ("successCondition", "failureCondition"):
            if key in metric:
                assert metric[key].startswith("len(result) > 0 && "), metric["name"]
        assert "successCondition" in metric


def substituted_queries(args: dict[str, str]) -> dict[str, str]:
    defaults = {a["name"]: a.get("value") for a in load_template()["spec"]["args"]}
    values = {**defaults, **args}
    out = {}
    for metric in load_template()["spec"]["metrics"]:
        if "prometheus" in metric["provider"]:
            query = metric["provider"]["prometheus"]["query"]
            out[metric["name"]] = re.sub(
                r"\{\{args\.([\w-]+)\}\}", lambda m: str(values[m.group(1)]), query
            )
    return out


def test_template_queries_parse_and_use_exported_names(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "PROMTOOL")
    queries = substituted_queries(
        {"canary-hash": "6f9d8c7b5", "stable-hash": "5c4b7f9d8", "instruments": "^(KO|PEP)$"}
    )
    assert set(queries) == {
        "error-rate",
        "latency-p99",
        "circuit-breaker-trips",
        "sharpe-drop",
        "win-rate-drop",
    }
    used = set()
    for name, query in queries.items():
        assert "{{" not in query
        # Canary and stable are told apart by ReplicaSet, never by model version.
        assert 'rollouts_pod_template_hash="6f9d8c7b5"' in query and "model_version" not in query
        if name in ("sharpe-drop", "win-rate-drop"):
            assert 'rollouts_pod_template_hash="5c4b7f9d8"' in query
        used |= set(re.findall(r"([a-z_:][a-z0-9_:]*)\{", query))
    assert used and used <= exported_series_names(), used - exported_series_names()
    rules = {
        "groups": [
            {
                "name": "analysis",
                "rules": [
                    {"record": f"analysis:{name.replace('-', '_')}", "expr": q}
                    for name, q in queries.items()
                ],
            }
        ]
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_template_matches_the_argo_schema_and_metric_rules(shared_dir: Path) -> None:
    import json

    import jsonschema

    path = shared_dir / "schemas" / "argo-rollouts" / "analysistemplate.strict.json"
    if not path.exists():
        if os.environ.get("CI") == "true" and not os.environ.get("PIPELINES_SHARED_OPTIONAL"):
            pytest.fail(f"{path} is missing (CI has ../shared beside the repository)")
        pytest.skip(f"{path} is missing (../shared is not beside this checkout)")
    schema = json.loads(path.read_text())
    template = load_template()
    jsonschema.Draft7Validator(schema).validate(template)
    duration = re.compile(r"^\d+(ms|s|m|h)$")
    for metric in template["spec"]["metrics"]:
        count = int(metric.get("count", 0))
        # Argo's ValidateMetric rules (checked before args are resolved).
        assert count == 0 or count >= int(metric.get("failureLimit", 0))
        assert count == 0 or count >= int(metric.get("inconclusiveLimit", 0))
        assert count <= 1 or "interval" in metric
        for key in ("interval", "initialDelay"):
            if key in metric:
                assert duration.match(str(metric[key])), (metric["name"], key)


def test_job_metric_runs_pipelines_analyze_on_the_hashes() -> None:
    from pipelines.cli import build_parser

    template = load_template()
    values = {a["name"]: a.get("value") for a in template["spec"]["args"]}
    values |= {"canary-hash": "6f9d8c7b5", "stable-hash": "5c4b7f9d8", "instruments": "^(KO)$"}
    metric = next(m for m in template["spec"]["metrics"] if "job" in m["provider"])
    assert "successCondition" not in metric  # the Job's own exit status is the measurement
    container = metric["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "strategy-service"  # rewritten by each overlay's `images:`
    command = [
        re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m: str(values[m.group(1)]), word)
        for word in container["command"]
    ]
    assert command[:2] == ["pipelines", "analyze"]
    args = build_parser().parse_args(command[1:])
    assert (args.canary_hash, args.stable_hash) == ("6f9d8c7b5", "5c4b7f9d8")
    assert args.label == "rollouts_pod_template_hash" and args.canary_version is None
    assert (args.instruments, args.window) == ("^(KO)$", "10m")
    prod = yaml.safe_load((REPO / "environments" / "prod" / "settings.yaml").read_text())
    for key, value in prod["analysis"].items():
        assert getattr(args, key) == value, key


def test_side_queries_select_one_label_and_the_instruments() -> None:
    from pipelines.delivery.analysis_prom import HASH_LABEL, Side, side_queries

    queries = side_queries(Side(HASH_LABEL, "6f9d8c7b5"), "^(KO|PEP)$", "5m")
    assert (
        'strategy_requests_total{rollouts_pod_template_hash="6f9d8c7b5",instrument=~"^(KO|PEP)$"}[5m]'
        in (queries["requests"])
    )
    assert all("model_version" not in q for q in queries.values())
    by_version = side_queries(Side("model_version", 'v"1'), ".*", "5m")
    assert 'model_version="v\\"1"' in by_version["latency_p99"]
    with pytest.raises(ConfigError, match="'pod-hash' is not a Prometheus label name"):
        Side("pod-hash", "x")
