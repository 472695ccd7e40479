"""Promotion gates: compare the candidate's metrics with an environment's thresholds.

Fail closed: a metric that is missing, NaN, infinite or of the wrong type fails its gate, and
so does a missing CI test status where tests are required. The PnL gate's margin is sign-aware:
the required PnL is ``baseline + margin * |baseline|``, which is above the baseline whether the
baseline made or lost money.

In every environment, dev too, the learned-something gate fails a degenerate model: fewer than
two trees, zero total importance, near-constant predictions, positions that copy the long
baseline, or tuning trials that all tie.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from pipelines.training.params import GateThresholds, LearnedThresholds

SCHEMA_VERSION = 1
LEARNING_FACTS = (
    "trees",
    "importance_total",
    "prediction_std",
    "baseline_agreement",
    "tuning_spread",
)


@cache
def report_schema() -> dict[str, Any]:
    """The JSON Schema of a gate report."""
    text = resources.files("pipelines.training").joinpath("schemas/gate_report.schema.json")
    schema: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return schema


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def compare(value: float, comparator: str, threshold: float) -> bool:
    """Apply a comparator."""
    return {
        ">": value > threshold,
        "<": value < threshold,
        ">=": value >= threshold,
        "<=": value <= threshold,
        "==": value == threshold,
    }[comparator]


def numeric_gate(name: str, raw: Any, comparator: str, threshold: float) -> dict[str, Any]:
    """One numeric gate; a missing or non-finite value fails."""
    value = _number(raw)
    if value is None:
        reason = "metric missing" if raw is None else f"metric is not a finite number ({raw!r})"
        return _gate(name, None, threshold, comparator, False, f"{reason}: fails closed")
    ok = compare(value, comparator, threshold)
    word = "meets" if ok else "does not meet"
    return _gate(
        name, value, threshold, comparator, ok, f"{value:.4g} {word} {comparator} {threshold:.4g}"
    )


def _gate(
    name: str, value: Any, threshold: Any, comparator: str, ok: bool, reason: str
) -> dict[str, Any]:
    return {
        "name": name,
        "value": value,
        "threshold": threshold,
        "comparator": comparator,
        "verdict": "pass" if ok else "fail",
        "reason": reason,
    }


def required_pnl(baseline_pnl: float, margin: float) -> float:
    """PnL the candidate must exceed: the baseline plus ``margin`` of its magnitude."""
    return baseline_pnl + margin * abs(baseline_pnl)


def pnl_gate(pnl: Any, baseline_pnl: Any, margin: float) -> dict[str, Any]:
    """Backtest PnL against the baseline with the sign-aware margin."""
    base = _number(baseline_pnl)
    if base is None:
        return _gate(
            "pnl_vs_baseline",
            _number(pnl),
            None,
            ">",
            False,
            "baseline PnL missing or not finite: fails closed",
        )
    gate = numeric_gate("pnl_vs_baseline", pnl, ">", required_pnl(base, margin))
    gate["reason"] += f" (baseline {base:.4g} + {margin:g} x |baseline|)"
    return gate


def tests_gate(status: dict[str, Any] | None, commit: str | None) -> dict[str, Any]:
    """CI's recorded test status must say passed, for this very commit."""
    name = "tests_passed"
    if status is None:
        return _gate(name, None, True, "==", False, "no CI test status recorded: fails closed")
    passed = status.get("tests_passed")
    if passed is not True:
        return _gate(name, False, True, "==", False, f"CI status says tests_passed={passed!r}")
    if commit is None or status.get("commit") != commit:
        return _gate(
            name,
            False,
            True,
            "==",
            False,
            f"CI status is for commit {status.get('commit')!r}, candidate is {commit!r}",
        )
    return _gate(name, True, True, "==", True, f"tests passed in CI for {commit}")


def leakage_gate(findings: Any) -> dict[str, Any]:
    """Zero leakage findings; an unknown count fails."""
    gate = numeric_gate("no_leakage", findings, "==", 0.0)
    if gate["verdict"] == "fail" and gate["value"] is not None:
        gate["reason"] = f"{int(gate['value'])} leakage finding(s); see models/evaluation.json"
    return gate


def degeneracies(metrics: dict[str, Any], limits: LearnedThresholds) -> list[str]:
    """Why the model learned nothing, one short phrase per sign (empty: it learned something).

    A missing or non-finite fact counts as a sign (fail closed).
    """
    found = []
    facts = {k: _number(metrics.get(k)) for k in LEARNING_FACTS}
    absent = [k for k, v in facts.items() if v is None and k != "tuning_spread"]
    if absent:
        found.append(f"{', '.join(absent)} not recorded")
    trees, importance = facts["trees"], facts["importance_total"]
    if trees is not None and trees < limits.min_trees:
        found.append(f"{int(trees)} tree(s), fewer than {limits.min_trees}")
    if importance is not None and importance <= 0.0:
        found.append("zero total feature importance (no split)")
    spread = facts["prediction_std"]
    if spread is not None and spread < limits.min_prediction_std:
        found.append(f"near-constant predictions (std {spread:.2g})")
    agreement = facts["baseline_agreement"]
    if agreement is not None and agreement > limits.max_baseline_agreement:
        found.append(f"positions equal the long baseline's on {agreement:.1%} of bars")
    tuning, trials = facts["tuning_spread"], _number(metrics.get("n_trials"))
    if trials is None or trials > 1:  # one trial cannot tie; an unknown count is checked
        if tuning is None:
            found.append("fewer than two tuning trials scored")
        elif tuning <= limits.min_tuning_spread:
            found.append("all tuning trials tie")
    return found


def learned_gate(metrics: dict[str, Any], limits: LearnedThresholds) -> dict[str, Any]:
    """The learned-something gate: fails when any sign of a degenerate model is found."""
    found = degeneracies(metrics, limits)
    if found:
        return _gate(
            "learned_something", False, True, "==", False, "learned nothing: " + "; ".join(found)
        )
    reason = (
        f"{int(metrics['trees'])} trees, prediction std {metrics['prediction_std']:.2g}, "
        f"{metrics['baseline_agreement']:.1%} of positions equal to the long baseline's"
    )
    return _gate("learned_something", True, True, "==", True, reason)


def evaluate(
    env: str,
    thresholds: GateThresholds,
    metrics: dict[str, Any],
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    ci_status: dict[str, Any] | None,
    learned: LearnedThresholds | None = None,
) -> dict[str, Any]:
    """Build one environment's gate report (validated against the schema).

    Args:
        env: ``dev``, ``staging`` or ``prod``.
        thresholds: The environment's gates.
        metrics: The candidate's headline metrics (``models/metrics.json``).
        baseline: The resolved baseline (kind, description, total_pnl, reason).
        candidate: ``bundle`` path, ``sha256`` and ``git_commit`` of the candidate.
        ci_status: CI's test status, or None when none was recorded.
        learned: Limits of the learned-something gate, enforced in every environment.
    """
    gates: list[dict[str, Any]] = [learned_gate(metrics, learned or LearnedThresholds())]
    skipped: list[str] = []
    numeric = [
        ("sharpe", "sharpe", ">", thresholds.min_sharpe),
        ("max_drawdown", "max_drawdown", "<", thresholds.max_drawdown),
        ("win_rate", "win_rate", ">", thresholds.min_win_rate),
        ("psr", "psr", ">", thresholds.min_psr),
        ("dsr", "dsr", ">", thresholds.min_dsr),
    ]
    for name, key, comparator, threshold in numeric:
        if threshold is None:
            skipped.append(name)
        else:
            gates.append(numeric_gate(name, metrics.get(key), comparator, threshold))
    if thresholds.pnl_margin is None:
        skipped.append("pnl_vs_baseline")
    else:
        # On a common sub-period the candidate's PnL there is what is compared.
        pnl = baseline.get("candidate_pnl")
        gates.append(
            pnl_gate(
                metrics.get("total_pnl") if pnl is None else pnl,
                baseline.get("total_pnl"),
                thresholds.pnl_margin,
            )
        )
    if thresholds.require_no_leakage:
        gates.append(leakage_gate(metrics.get("leakage_findings")))
    else:
        skipped.append("no_leakage")
    if thresholds.require_tests_passed:
        gates.append(tests_gate(ci_status, candidate.get("git_commit")))
    else:
        skipped.append("tests_passed")
    ok = bool(gates) and all(g["verdict"] == "pass" for g in gates)
    report = {
        "schema_version": SCHEMA_VERSION,
        "environment": env,
        "verdict": "pass" if ok else "fail",
        "candidate": candidate,
        "baseline": baseline,
        "gates": gates,
        "not_enforced": skipped,
    }
    jsonschema.validate(report, report_schema())
    return report
