"""The pure canary verdict and the AnalysisTemplates' shape (guards, args, PromQL syntax)."""

from __future__ import annotations

import math
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from pipelines.delivery.analysis import (
    ServiceStats,
    Thresholds,
    TradeStats,
    analyse,
    paired_returns,
    thresholds_from_settings,
)
from pipelines.errors import ConfigError
from pipelines.monitoring.metric_names import exported_series_names
from tests.conftest import require_tool

REPO = Path(__file__).resolve().parents[2]
ANALYSIS = REPO / "environments" / "base" / "analysis"
SERVICE = ANALYSIS / "strategy-service-level.yaml"
KPIS = ANALYSIS / "strategy-trading-kpis.yaml"
LIMITS = Thresholds(0.01, 0.2, 5, 0.2, 0.05, 0.1, 30, "30m")


def service(**kw: float | None) -> ServiceStats:
    base: dict[str, float | None] = dict(
        requests=1000, errors=0, latency_p99=0.005, trips_per_hour=0
    )
    base.update(kw)
    return ServiceStats(**base)


def trades(per: float = 50, **kw: float) -> TradeStats:
    base = dict(gain=3.0, loss=1.0, squared=0.04, wins=120, losses=80)
    base.update(kw)
    return TradeStats({"A": per, "B": per, "C": per, "D": per}, **base)


def outcomes(svc: ServiceStats, canary: TradeStats | None = None) -> dict[str, str]:
    result = analyse(svc, canary or trades(), trades(), LIMITS)
    return {c.name: c.outcome for c in result.checks} | {"overall": result.outcome}


def test_identical_canary_passes() -> None:
    assert set(outcomes(service()).values()) == {"pass"}


@pytest.mark.parametrize(
    ("svc", "canary", "failing"),
    [
        (service(errors=11), None, "error_rate"),
        (service(latency_p99=0.25), None, "latency_p99_seconds"),
        (service(trips_per_hour=6), None, "circuit_breaker_trips_per_hour"),
        (service(), trades(gain=2.6, loss=1.0, squared=0.04), "sharpe_drop"),
        (service(), trades(wins=100, losses=100), "win_rate_drop"),
    ],
)
def test_each_trigger_fails_its_own_check(
    svc: ServiceStats, canary: TradeStats | None, failing: str
) -> None:
    got = outcomes(svc, canary)
    assert got[failing] == "fail" and got["overall"] == "fail"
    fails = [k for k, v in got.items() if v == "fail" and k != "overall"]
    assert failing in fails


def test_pnl_drop_is_a_share_of_the_stable_gross() -> None:
    # stable: pnl 2, gross 4; canary pnl 1.5: drop 0.5 / 4 = 0.125 > 0.1
    result = analyse(service(), trades(gain=2.5, loss=1.0), trades(), LIMITS)
    pnl = next(c for c in result.checks if c.name == "pnl_drop")
    assert pnl.value == pytest.approx(0.125) and pnl.outcome == "fail"
    better = analyse(service(), trades(gain=3.5, loss=1.0), trades(), LIMITS)
    assert next(c for c in better.checks if c.name == "pnl_drop").outcome == "pass"


def test_boundaries_are_inclusive_limits() -> None:
    assert outcomes(service(errors=10))["error_rate"] == "pass"
    assert outcomes(service(latency_p99=0.2))["latency_p99_seconds"] == "pass"


def test_pairing_rule_and_too_few_paired_trades() -> None:
    canary = TradeStats({"A": 10, "B": 3, "X": 50}, 1, 0, 0.01, 5, 5)
    stable = TradeStats({"A": 4, "B": 9, "Y": 50}, 1, 0, 0.01, 5, 5)
    assert paired_returns(canary, stable) == 4 + 3  # per instrument min, shared instruments only
    got = analyse(service(), canary, stable, LIMITS)
    kpis = [c for c in got.checks if c.name.endswith("_drop")]
    assert {c.outcome for c in kpis} == {"inconclusive"} and got.exit_code == 3
    assert "7 paired paper returns < min_trades 30" in kpis[0].detail
    assert got.paired == 7


def test_service_level_only_when_nothing_is_left_to_pair() -> None:
    result = analyse(service(), None, None, LIMITS)
    assert [c.name for c in result.checks] == [
        "error_rate",
        "latency_p99_seconds",
        "circuit_breaker_trips_per_hour",
    ]
    assert result.outcome == "pass" and result.paired is None


def test_missing_service_metrics_fail_closed_and_undefined_kpis_are_inconclusive() -> None:
    got = outcomes(service(requests=None, latency_p99=None, trips_per_hour=None))
    assert got["error_rate"] == got["latency_p99_seconds"] == "fail"
    assert got["circuit_breaker_trips_per_hour"] == "fail"
    assert analyse(service(latency_p99=math.nan), None, None, LIMITS).exit_code == 1
    flat = trades(gain=0.0, loss=0.0, squared=0.0, wins=0, losses=0)
    result = analyse(service(), flat, flat, LIMITS)
    assert {c.outcome for c in result.checks if c.name.endswith("_drop")} == {"inconclusive"}


def test_thresholds_come_from_settings(repo_root: Path) -> None:
    prod = yaml.safe_load((repo_root / "environments" / "prod" / "settings.yaml").read_text())
    got = thresholds_from_settings(prod)
    assert got == LIMITS
    with pytest.raises(ConfigError, match=r"analysis.min_trades: expected a number"):
        thresholds_from_settings({"analysis": {**prod["analysis"], "min_trades": "x"}})


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_template_defaults_equal_prod_settings(repo_root: Path) -> None:
    prod = yaml.safe_load((repo_root / "environments" / "prod" / "settings.yaml").read_text())
    args = {}
    for path in (SERVICE, KPIS):
        for arg in load(path)["spec"]["args"]:
            assert args.get(arg["name"], arg.get("value")) == arg.get("value"), arg["name"]
            args[arg["name"]] = arg.get("value")
    for key, value in prod["analysis"].items():
        name = key.replace("_", "-")
        assert args[name] is not None and yaml.safe_load(args[name]) == value, key
    assert args["window"] == prod["schedule"]["first_step"]
    assert args["interval"] == prod["schedule"]["interval"]


def test_every_condition_is_guarded_and_kpis_can_be_inconclusive() -> None:
    for path in (SERVICE, KPIS):
        for metric in load(path)["spec"]["metrics"]:
            assert "failureLimit" in metric and "consecutiveErrorLimit" in metric, metric["name"]
            assert list(metric["provider"]) == ["prometheus"], metric["name"]
            for key in ("successCondition", "failureCondition"):
                if key in metric:
                    assert metric[key].startswith("len(result) > 0 && "), metric["name"]
            assert "successCondition" in metric
    for metric in load(KPIS)["spec"]["metrics"]:
        assert "failureCondition" in metric and metric["inconclusiveLimit"] == 0


def substituted(path: Path, args: dict[str, str]) -> dict[str, str]:
    template = load(path)
    values = {a["name"]: a.get("value") for a in template["spec"]["args"]} | args
    out = {}
    for metric in template["spec"]["metrics"]:
        query = metric["provider"]["prometheus"]["query"]
        out[metric["name"]] = re.sub(
            r"\{\{args\.([\w-]+)\}\}", lambda m: str(values[m.group(1)]), query
        )
    return out


def test_template_queries_parse_and_use_exported_names(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "PROMTOOL")
    args = {"canary-hash": "6f9d8c7b5", "stable-hash": "5c4b7f9d8", "instruments": "^(PEP|PG)$"}
    queries = substituted(SERVICE, args) | substituted(KPIS, args)
    assert set(queries) == {
        "error-rate",
        "latency-p99",
        "circuit-breaker-trips",
        "sharpe-drop",
        "win-rate-drop",
        "pnl-drop",
    }
    used = set()
    for name, query in queries.items():
        assert "{{" not in query
        # Canary and stable are told apart by ReplicaSet, never by model version.
        assert 'rollouts_pod_template_hash="6f9d8c7b5"' in query and "model_version" not in query
        if name.endswith("-drop"):
            # pairwise: the canary's shadow copies against the stable's live requests
            assert 'rollouts_pod_template_hash="5c4b7f9d8",traffic="live"' in query
            assert 'rollouts_pod_template_hash="6f9d8c7b5",traffic="shadow"' in query
            assert "strategy_last_bar_timestamp_seconds" in query  # read when both in sync
            assert query.rstrip().endswith(">= 30)")  # the min_trades guard
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


def test_templates_match_the_argo_schema_and_metric_rules(shared_dir: Path) -> None:
    import json

    import jsonschema

    from twin.cluster.analysis_rules import validate_metric
    from twin.cluster.analysis_run import resolved_metrics

    path = shared_dir / "schemas" / "argo-rollouts" / "analysistemplate.strict.json"
    if not path.exists():
        if os.environ.get("CI") == "true" and not os.environ.get("PIPELINES_SHARED_OPTIONAL"):
            pytest.fail(f"{path} is missing (CI has ../shared beside the repository)")
        pytest.skip(f"{path} is missing (../shared is not beside this checkout)")
    schema = json.loads(path.read_text())
    for template_path in (SERVICE, KPIS):
        template = load(template_path)
        jsonschema.Draft7Validator(schema).validate(template)
        # Argo validates a referenced template with its arg defaults (validation_references.go)
        args = [
            {"name": a["name"], "value": a.get("value", "dummy-value")}
            for a in template["spec"]["args"]
        ]
        run = {"spec": {"metrics": template["spec"]["metrics"], "args": args}}
        for metric in resolved_metrics(run):
            assert validate_metric(metric) is None, metric["name"]


def test_trade_queries_pair_shadow_with_live_on_the_same_bars() -> None:
    from pipelines.delivery.analysis_prom import HASH_LABEL, Side, service_queries, trade_queries

    canary, stable = trade_queries(
        (Side(HASH_LABEL, "6f9d8c7b5"), "shadow"),
        (Side(HASH_LABEL, "5c4b7f9d8"), "live"),
        "^(KO|PEP)$",
        "5m",
        "1s",
    )
    shadow = 'rollouts_pod_template_hash="6f9d8c7b5",traffic="shadow",instrument=~"^(KO|PEP)$"'
    live = 'rollouts_pod_template_hash="5c4b7f9d8",traffic="live",instrument=~"^(KO|PEP)$"'
    assert f"strategy_paper_returns_total{{{shadow}}}" in canary["returns_by_instrument"]
    assert f"strategy_paper_returns_total{{{live}}}" in stable["returns_by_instrument"]
    sync = (
        f"(max by (instrument) (strategy_last_bar_timestamp_seconds{{{live}}}) == on(instrument) "
        f"max by (instrument) (strategy_last_bar_timestamp_seconds{{{shadow}}}))"
    )
    assert all(sync in q for q in (*canary.values(), *stable.values()))
    assert all("[5m:1s]" in q and "model_version" not in q for q in canary.values())
    svc = service_queries(Side("model_version", 'v"1'), "5m")
    assert 'model_version="v\\"1"' in svc["latency_p99"] and "traffic" not in svc["requests"]
    with pytest.raises(ConfigError, match="'pod-hash' is not a Prometheus label name"):
        Side("pod-hash", "x")
