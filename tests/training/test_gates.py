"""Gates fail closed, the PnL margin is sign-aware, reports follow the schema."""

from __future__ import annotations

import math
from typing import Any

import jsonschema
import pytest

from pipelines.config import parse_params
from pipelines.training import gates
from pipelines.training.params import GateThresholds

GOOD: dict[str, Any] = {
    "sharpe": 2.5,
    "max_drawdown": 0.10,
    "win_rate": 0.60,
    "psr": 0.99,
    "dsr": 0.97,
    "total_pnl": 1.5,
    "leakage_findings": 0,
}
LEARNED: dict[str, Any] = {
    "trees": 40,
    "importance_total": 12.5,
    "prediction_std": 0.03,
    "baseline_agreement": 0.6,
    "tuning_spread": 0.2,
    "n_trials": 20,
}
GOOD |= LEARNED
BASELINE = {"kind": "naive_equal_weight_long", "description": "d", "total_pnl": 1.0, "reason": "r"}
CANDIDATE = {"bundle": "models/model_bundle.json", "sha256": "a" * 64, "git_commit": "abc"}
CI_OK = {"tests_passed": True, "commit": "abc"}


def strict() -> GateThresholds:
    return parse_params({}).gates.prod


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {g["name"]: g["verdict"] for g in report["gates"]}


def test_everything_good_passes() -> None:
    report = gates.evaluate("prod", strict(), GOOD, BASELINE, CANDIDATE, CI_OK)
    assert report["verdict"] == "pass", report
    assert set(verdicts(report)) == {
        "learned_something",
        "sharpe",
        "max_drawdown",
        "win_rate",
        "psr",
        "dsr",
        "pnl_vs_baseline",
        "no_leakage",
        "tests_passed",
    }


@pytest.mark.parametrize("metric", sorted(set(GOOD) - {"n_trials"}))
@pytest.mark.parametrize("bad", [None, math.nan, math.inf, "2.5", True])
def test_missing_or_nan_metric_fails_closed(metric: str, bad: Any) -> None:
    broken = {**GOOD, metric: bad}
    report = gates.evaluate("prod", strict(), broken, BASELINE, CANDIDATE, CI_OK)
    assert report["verdict"] == "fail"
    names = {"total_pnl": "pnl_vs_baseline", "leakage_findings": "no_leakage"}
    names |= dict.fromkeys(LEARNED, "learned_something")
    assert verdicts(report)[names.get(metric, metric)] == "fail"


def test_absent_metric_key_fails_closed() -> None:
    broken = {k: v for k, v in GOOD.items() if k != "sharpe"}
    report = gates.evaluate("prod", strict(), broken, BASELINE, CANDIDATE, CI_OK)
    assert verdicts(report)["sharpe"] == "fail"
    sharpe = next(g for g in report["gates"] if g["name"] == "sharpe")
    assert "missing" in sharpe["reason"]


def test_empty_metrics_fail_every_environment_even_dev() -> None:
    params = parse_params({})
    for env in ("dev", "staging", "prod"):
        report = gates.evaluate(env, params.gates.for_env(env), {}, BASELINE, CANDIDATE, CI_OK)
        assert report["verdict"] == "fail"


@pytest.mark.parametrize(
    ("baseline", "pnl", "ok"),
    [
        (1.0, 1.11, True),
        (1.0, 1.09, False),
        (-1.0, -0.89, True),  # required -0.9: beating a loss by 10% of its size
        (-1.0, -0.95, False),  # a naive "baseline * 1.1" would require -1.1 and pass this
        (0.0, 0.001, True),
        (0.0, 0.0, False),
    ],
)
def test_sign_aware_pnl_margin(baseline: float, pnl: float, ok: bool) -> None:
    gate = gates.pnl_gate(pnl, baseline, 0.10)
    assert (gate["verdict"] == "pass") is ok
    assert gate["threshold"] == pytest.approx(baseline + 0.10 * abs(baseline))


def test_missing_baseline_pnl_fails_closed() -> None:
    assert gates.pnl_gate(1.0, None, 0.1)["verdict"] == "fail"
    assert gates.pnl_gate(1.0, math.nan, 0.1)["verdict"] == "fail"


@pytest.mark.parametrize(
    "status",
    [
        None,
        {"tests_passed": False, "commit": "abc"},
        {"tests_passed": True, "commit": "zzz"},
        {"tests_passed": "true", "commit": "abc"},
        {"commit": "abc"},
    ],
)
def test_tests_gate_needs_a_passing_status_for_this_commit(status: Any) -> None:
    report = gates.evaluate("prod", strict(), GOOD, BASELINE, CANDIDATE, status)
    assert verdicts(report)["tests_passed"] == "fail"
    assert report["verdict"] == "fail"


def test_dev_is_lenient_but_not_blind() -> None:
    dev = parse_params({}).gates.dev
    weak = {**GOOD, "sharpe": 0.5, "win_rate": 0.5, "dsr": 0.1}
    report = gates.evaluate("dev", dev, weak, BASELINE, CANDIDATE, None)
    assert report["verdict"] == "pass"
    assert "tests_passed" in report["not_enforced"]
    leaky = gates.evaluate("dev", dev, {**weak, "leakage_findings": 1}, BASELINE, CANDIDATE, None)
    assert leaky["verdict"] == "fail"


def test_schema_rejects_a_pass_with_a_failed_gate() -> None:
    report = gates.evaluate("prod", strict(), {**GOOD, "sharpe": 1.0}, BASELINE, CANDIDATE, CI_OK)
    report["verdict"] = "pass"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, gates.report_schema())


def test_pnl_gate_uses_the_candidates_pnl_on_the_common_period() -> None:
    common = {**BASELINE, "total_pnl": 0.5, "candidate_pnl": 0.3, "period": "a .. b"}
    report = gates.evaluate("prod", strict(), GOOD, common, CANDIDATE, CI_OK)
    pnl = next(g for g in report["gates"] if g["name"] == "pnl_vs_baseline")
    assert pnl["value"] == 0.3 and pnl["verdict"] == "fail"
