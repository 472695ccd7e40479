"""Leakage checks catch a future-peeking feature and bad splits, and fail the gate."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import parse_params
from pipelines.data.features import compute_features
from pipelines.training import gates, leakage, splits


def peeking_features(bars: pd.DataFrame, params: Any) -> pd.DataFrame:
    """The project's features plus ret_1 replaced by tomorrow's return (a deliberate leak)."""
    out = compute_features(bars, params)
    ordered = out.sort_values(["instrument", "timestamp"])
    future = ordered.groupby("instrument")["ret_1"].shift(-1)
    out.loc[ordered.index, "ret_1"] = future
    return out


def test_truncation_catches_a_future_feature(synthetic: dict[str, Any]) -> None:
    bars, params = synthetic["bars"], synthetic["params"]
    leaky_store = peeking_features(bars, params.features)
    times = pd.DatetimeIndex(sorted(bars["timestamp"].unique()))
    sample = leakage.sample_timestamps(times, 3, seed=1, min_position=200)
    findings = leakage.check_truncation(
        bars,
        leaky_store,
        ["ret_1", "vol_21"],
        partial(peeking_features, params=params.features),
        sample,
        1e-9,
    )
    assert findings and all("ret_1" in f for f in findings)
    clean = leakage.check_truncation(
        bars,
        synthetic["store"],
        ["ret_1", "vol_21"],
        partial(compute_features, params=params.features),
        sample,
        1e-9,
    )
    assert clean == []


def test_overlapping_split_is_reported() -> None:
    stamps = pd.DatetimeIndex(pd.bdate_range("2020-01-01", periods=30, tz="UTC"))
    start = np.arange(30)
    ends = stamps[np.minimum(start + 3, 29)]
    bad = splits.Split(np.arange(0, 20), np.arange(20, 25), ((20, 24),), (1,))
    findings = leakage.check_splits("walk_forward", [bad], stamps, ends, stamps, embargo=3)
    assert any("overlapping" in f for f in findings)
    good = splits.walk_forward(start, start + 3, 30, 2, 3)
    assert leakage.check_splits("walk_forward", good, stamps, ends, stamps, 3) == []


def test_short_embargo_and_label_as_feature_are_findings() -> None:
    assert leakage.check_embargo(2, 5)
    assert leakage.check_embargo(5, 5) == []
    frame = pd.DataFrame({"a": np.arange(10.0), "fwd_return": np.arange(10.0)})
    found = leakage.check_label_columns(frame, ["a", "fwd_return"], frame["fwd_return"], 0.95)
    assert any("label column" in f for f in found)
    assert any("'a'" in f for f in found)


def test_a_leak_found_by_training_fails_the_gate(synthetic: dict[str, Any]) -> None:
    from tests.training.conftest import run_stages

    params, bars = synthetic["params"], synthetic["bars"]
    leaky = peeking_features(bars, params.features)
    out = run_stages(
        synthetic, store=leaky, feature_fn=partial(peeking_features, params=params.features)
    )
    assert out.metrics["leakage_findings"] > 0
    assert any("ret_1" in f for f in out.evaluation["leakage"]["findings"])
    report = gates.evaluate(
        "dev",
        parse_params({}).gates.dev,
        out.metrics,
        {"kind": "naive_equal_weight_long", "description": "d", "total_pnl": 0.0, "reason": "r"},
        {"bundle": "b", "sha256": None, "git_commit": None},
        None,
    )
    assert report["verdict"] == "fail"
    assert {g["name"]: g["verdict"] for g in report["gates"]}["no_leakage"] == "fail"
