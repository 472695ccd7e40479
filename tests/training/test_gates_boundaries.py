"""Every gate comparator at, just above and just below its threshold; exact gate records.

A gate that passes a candidate one ulp on the wrong side of a threshold promotes a model that
the params say must not ship, so each boundary is pinned with the neighbouring floats.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from pipelines.training import gates
from pipelines.training.params import GateThresholds, LearnedThresholds

LEARNED: dict[str, Any] = {
    "trees": 40,
    "importance_total": 12.5,
    "prediction_std": 0.03,
    "baseline_agreement": 0.6,
    "tuning_spread": 0.2,
    "n_trials": 20,
}
BASELINE = {"kind": "naive_equal_weight_long", "description": "d", "total_pnl": 1.0, "reason": "r"}
CANDIDATE = {"bundle": "models/model_bundle.json", "sha256": "a" * 64, "git_commit": "abc"}
CI_OK = {"tests_passed": True, "commit": "abc"}
STRICT = GateThresholds(
    min_sharpe=2.0,
    max_drawdown=0.15,
    min_win_rate=0.55,
    pnl_margin=0.10,
    min_psr=0.95,
    min_dsr=0.9,
    require_no_leakage=True,
    require_tests_passed=True,
)
GOOD: dict[str, Any] = {
    "sharpe": 2.5,
    "max_drawdown": 0.10,
    "win_rate": 0.60,
    "psr": 0.99,
    "dsr": 0.97,
    "total_pnl": 1.5,
    "leakage_findings": 0,
    **LEARNED,
}


def above(x: float) -> float:
    return math.nextafter(x, math.inf)


def below(x: float) -> float:
    return math.nextafter(x, -math.inf)


@pytest.mark.parametrize(
    ("comparator", "at", "over", "under"),
    [
        (">", False, True, False),
        ("<", False, False, True),
        (">=", True, True, False),
        ("<=", True, False, True),
        ("==", True, False, False),
    ],
)
def test_every_comparator_at_and_next_to_its_threshold(
    comparator: str, at: bool, over: bool, under: bool
) -> None:
    for threshold in (0.15, 2.0, 0.0, -0.5):
        assert gates.compare(threshold, comparator, threshold) is at
        assert gates.compare(above(threshold), comparator, threshold) is over
        assert gates.compare(below(threshold), comparator, threshold) is under


GATE_OF_METRIC = {
    # metric: (gate name, strict threshold, passes just above it)
    "sharpe": ("sharpe", 2.0, True),
    "max_drawdown": ("max_drawdown", 0.15, False),
    "win_rate": ("win_rate", 0.55, True),
    "psr": ("psr", 0.95, True),
    "dsr": ("dsr", 0.9, True),
}


@pytest.mark.parametrize("metric", sorted(GATE_OF_METRIC))
def test_each_numeric_gate_boundary_in_the_report(metric: str) -> None:
    name, threshold, passes_above = GATE_OF_METRIC[metric]
    expected = {"at": False, "above": passes_above, "below": not passes_above}
    for where, value in (
        ("at", threshold),
        ("above", above(threshold)),
        ("below", below(threshold)),
    ):
        report = gates.evaluate("prod", STRICT, {**GOOD, metric: value}, BASELINE, CANDIDATE, CI_OK)
        gate = next(g for g in report["gates"] if g["name"] == name)
        assert (gate["verdict"] == "pass") is expected[where], (metric, where)
        assert (report["verdict"] == "pass") is expected[where], (metric, where)


def test_pnl_gate_boundary_is_strict() -> None:
    required = gates.required_pnl(1.0, 0.10)
    assert required == pytest.approx(1.1)
    assert gates.pnl_gate(required, 1.0, 0.10)["verdict"] == "fail"
    assert gates.pnl_gate(above(required), 1.0, 0.10)["verdict"] == "pass"
    assert gates.pnl_gate(below(required), 1.0, 0.10)["verdict"] == "fail"
    # A negative baseline: beat the loss by 10% of its size, not by 10% more loss.
    assert gates.required_pnl(-2.0, 0.25) == -1.5


def test_the_report_lists_each_gate_with_its_comparator_and_threshold() -> None:
    report = gates.evaluate("prod", STRICT, GOOD, BASELINE, CANDIDATE, CI_OK)
    assert [(g["name"], g["comparator"], g["threshold"]) for g in report["gates"]] == [
        ("learned_something", "==", True),
        ("sharpe", ">", 2.0),
        ("max_drawdown", "<", 0.15),
        ("win_rate", ">", 0.55),
        ("psr", ">", 0.95),
        ("dsr", ">", 0.9),
        ("pnl_vs_baseline", ">", pytest.approx(1.1)),
        ("no_leakage", "==", 0.0),
        ("tests_passed", "==", True),
    ]
    assert report["verdict"] == "pass" and report["not_enforced"] == []
    assert report["schema_version"] == 1 and report["environment"] == "prod"
    assert report["candidate"] == CANDIDATE and report["baseline"] == BASELINE


def test_unset_thresholds_are_listed_as_not_enforced() -> None:
    lenient = GateThresholds(min_sharpe=0.0, max_drawdown=0.5, require_no_leakage=False)
    report = gates.evaluate("dev", lenient, GOOD, BASELINE, CANDIDATE, None)
    assert [g["name"] for g in report["gates"]] == ["learned_something", "sharpe", "max_drawdown"]
    assert report["not_enforced"] == [
        "win_rate",
        "psr",
        "dsr",
        "pnl_vs_baseline",
        "no_leakage",
        "tests_passed",
    ]
    assert report["verdict"] == "pass"


def test_numeric_gate_records_value_threshold_and_reason() -> None:
    assert gates.numeric_gate("sharpe", 2.5, ">", 2.0) == {
        "name": "sharpe",
        "value": 2.5,
        "threshold": 2.0,
        "comparator": ">",
        "verdict": "pass",
        "reason": "2.5 meets > 2",
    }
    failed = gates.numeric_gate("max_drawdown", 0.2, "<", 0.15)
    assert (failed["verdict"], failed["reason"]) == ("fail", "0.2 does not meet < 0.15")
    missing = gates.numeric_gate("psr", None, ">", 0.95)
    assert missing == {
        "name": "psr",
        "value": None,
        "threshold": 0.95,
        "comparator": ">",
        "verdict": "fail",
        "reason": "metric missing: fails closed",
    }
    nan = gates.numeric_gate("psr", math.nan, ">", 0.95)
    assert nan["reason"] == "metric is not a finite number (nan): fails closed"
    # A bool is not a number, even though Python counts True as 1.
    assert gates.numeric_gate("win_rate", True, ">", 0.55)["value"] is None


def test_pnl_gate_records() -> None:
    gate = gates.pnl_gate(1.2, 1.0, 0.1)
    assert gate["reason"] == "1.2 meets > 1.1 (baseline 1 + 0.1 x |baseline|)"
    assert gate["threshold"] == pytest.approx(1.1) and gate["name"] == "pnl_vs_baseline"
    assert gates.pnl_gate(1.2, None, 0.1) == {
        "name": "pnl_vs_baseline",
        "value": 1.2,
        "threshold": None,
        "comparator": ">",
        "verdict": "fail",
        "reason": "baseline PnL missing or not finite: fails closed",
    }


def _tests_gate(value: Any, verdict: str, reason: str) -> dict[str, Any]:
    return {
        "name": "tests_passed",
        "value": value,
        "threshold": True,
        "comparator": "==",
        "verdict": verdict,
        "reason": reason,
    }


def test_tests_gate_records() -> None:
    assert gates.tests_gate(CI_OK, "abc") == _tests_gate(True, "pass", "tests passed in CI for abc")
    assert gates.tests_gate(None, "abc") == _tests_gate(
        None, "fail", "no CI test status recorded: fails closed"
    )
    assert gates.tests_gate({"tests_passed": False, "commit": "abc"}, "abc") == _tests_gate(
        False, "fail", "CI status says tests_passed=False"
    )
    assert gates.tests_gate(CI_OK, "def") == _tests_gate(
        False, "fail", "CI status is for commit 'abc', candidate is 'def'"
    )
    # A candidate without a commit matches no status, not even one without a commit.
    no_commit = gates.tests_gate({"tests_passed": True, "commit": None}, None)
    assert no_commit["verdict"] == "fail"


def test_leakage_gate_records() -> None:
    clean = gates.leakage_gate(0)
    assert (clean["verdict"], clean["reason"], clean["threshold"]) == ("pass", "0 meets == 0", 0.0)
    leaky = gates.leakage_gate(2)
    assert (leaky["verdict"], leaky["value"]) == ("fail", 2.0)
    assert leaky["reason"] == "2 leakage finding(s); see models/evaluation.json"
    unknown = gates.leakage_gate(None)
    assert (unknown["verdict"], unknown["reason"]) == ("fail", "metric missing: fails closed")


LIMITS = LearnedThresholds()


@pytest.mark.parametrize(
    ("fact", "value", "sign"),
    [
        ("trees", 2, None),  # at the minimum: enough
        ("trees", 1, "1 tree(s), fewer than 2"),
        ("importance_total", 1e-9, None),
        ("importance_total", 0.5, None),
        ("importance_total", 0.0, "zero total feature importance (no split)"),
        ("prediction_std", 1e-4, None),  # at the minimum
        ("prediction_std", below(1e-4), "near-constant predictions (std 0.0001)"),
        ("baseline_agreement", 0.99, None),  # at the maximum
        ("baseline_agreement", above(0.99), "positions equal the long baseline's on 99.0% of bars"),
        ("tuning_spread", above(1e-12), None),
        ("tuning_spread", 1e-12, "all tuning trials tie"),  # "at most this: all tied"
    ],
)
def test_learned_something_boundaries(fact: str, value: float, sign: str | None) -> None:
    found = gates.degeneracies({**LEARNED, fact: value}, LIMITS)
    assert found == ([] if sign is None else [sign])


@pytest.mark.parametrize(
    ("n_trials", "checked"), [(1, False), (2, True), (None, True), (math.nan, True)]
)
def test_tuning_ties_are_checked_from_two_trials_or_an_unknown_count(
    n_trials: float | None, checked: bool
) -> None:
    for spread, sign in (
        (None, "fewer than two tuning trials scored"),
        (0.0, "all tuning trials tie"),
    ):
        found = gates.degeneracies(
            {**LEARNED, "n_trials": n_trials, "tuning_spread": spread}, LIMITS
        )
        assert found == ([sign] if checked else [])


def test_absent_learning_facts_are_named_together() -> None:
    assert gates.degeneracies({}, LIMITS) == [
        "trees, importance_total, prediction_std, baseline_agreement not recorded",
        "fewer than two tuning trials scored",
    ]
    only_spread = {k: v for k, v in LEARNED.items() if k != "tuning_spread"}
    assert gates.degeneracies(only_spread, LIMITS) == ["fewer than two tuning trials scored"]


def test_learned_gate_records() -> None:
    passed = gates.learned_gate(LEARNED, LIMITS)
    assert passed == {
        "name": "learned_something",
        "value": True,
        "threshold": True,
        "comparator": "==",
        "verdict": "pass",
        "reason": "40 trees, prediction std 0.03, 60.0% of positions equal to the long baseline's",
    }
    failed = gates.learned_gate({**LEARNED, "trees": 1, "importance_total": 0.0}, LIMITS)
    assert {k: failed[k] for k in ("value", "threshold", "comparator", "verdict")} == {
        "value": False,
        "threshold": True,
        "comparator": "==",
        "verdict": "fail",
    }
    assert failed["reason"] == (
        "learned nothing: 1 tree(s), fewer than 2; zero total feature importance (no split)"
    )


def test_evaluate_applies_the_given_learned_limits() -> None:
    demanding = LearnedThresholds(min_trees=50)
    report = gates.evaluate("prod", STRICT, GOOD, BASELINE, CANDIDATE, CI_OK, demanding)
    assert report["verdict"] == "fail"
    assert report["gates"][0]["reason"] == "learned nothing: 40 tree(s), fewer than 50"


def test_the_report_schema_is_loaded_once() -> None:
    assert gates.report_schema() is gates.report_schema()
    assert gates.report_schema()["properties"]["schema_version"] == {"const": 1}
