"""The bundle's position rule is the one the backtest uses (shared ``rule_positions``)."""

from __future__ import annotations

import numpy as np

from pipelines.registry.bundle import PositionRule, rule_positions


def test_binary_rule_with_threshold_and_nan() -> None:
    preds = np.array([0.60, 0.515, 0.50, 0.47, 0.30, np.nan])
    rule = PositionRule(threshold=0.02)
    assert rule_positions(preds, "binary", rule).tolist() == [1.0, 0.0, 0.0, -1.0, -1.0, 0.0]
    long_only = PositionRule(threshold=0.02, long_only=True)
    assert rule_positions(preds, "binary", long_only).tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_regression_rule_is_centred_on_zero() -> None:
    preds = np.array([0.002, 0.0005, -0.002])
    got = rule_positions(preds, "regression", PositionRule(threshold=0.001))
    assert got.tolist() == [1.0, 0.0, -1.0]
