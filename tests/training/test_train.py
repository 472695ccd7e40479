"""The training stages on synthetic data: deterministic, leak-free, complete outputs."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from pipelines.training.inputs import select_features
from tests.training.conftest import Stages, run_stages


@pytest.fixture(scope="module")
def two_runs(stages: Stages, synthetic: dict[str, Any]) -> tuple[Stages, Stages]:
    return stages, run_stages(synthetic)


def test_same_inputs_same_bundle_and_metrics(two_runs: Any) -> None:
    first, second = two_runs
    assert json.dumps(first.bundle, sort_keys=True) == json.dumps(second.bundle, sort_keys=True)
    assert first.metrics == second.metrics
    assert first.evaluation == second.evaluation
    assert first.tuning == second.tuning
    assert first.trained.oos.equals(second.trained.oos)
    assert first.trained.cpcv.equals(second.trained.cpcv)


def test_outputs_are_complete_and_clean(two_runs: Any, synthetic: dict[str, Any]) -> None:
    out = two_runs[0]
    assert out.metrics["leakage_findings"] == 0, out.evaluation["leakage"]
    assert out.metrics["n_trials"] == synthetic["params"].training.tuning.n_trials
    for key in ("sharpe", "psr", "dsr", "max_drawdown", "win_rate", "total_pnl"):
        assert out.metrics[key] is not None and math.isfinite(out.metrics[key]), key
    assert len(out.evaluation["cpcv_path_sharpes"]) == 3  # C(3, 1) paths of 4 groups, 2 tested
    assert set(out.evaluation["per_instrument"]) == {"S0", "S1", "S2", "S3"}
    assert not any(f.startswith("cs_rank_") for f in out.bundle["feature_names"])
    assert len(out.bundle["reference"]["ret_1"]) == 50
    limits = out.bundle["metadata"]["psi_limits"]
    assert set(limits["features"]) == set(out.bundle["feature_names"])
    for name, row in limits["features"].items():
        assert 0.2 <= row["warning"] <= row["critical"] and row["critical"] >= 0.3, name


def test_cross_sectional_features_are_opt_in(synthetic: dict[str, Any]) -> None:
    names = synthetic["metadata"]["features"]
    assert any(n.startswith("cs_rank_") for n in names)
    assert select_features(names, True) == names
    assert all(not n.startswith("cs_rank_") for n in select_features(names, False))
