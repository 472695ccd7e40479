"""Drift figures on hand-checked cases: PSI bins and epsilon, KS, missing rate, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.monitoring import drift
from pipelines.monitoring.drift import Thresholds


def test_identical_samples_have_zero_psi_and_ks():
    x = np.random.default_rng(1).normal(size=5000)
    assert drift.psi(x, x) == pytest.approx(0.0, abs=1e-12)
    assert drift.ks(x, x)[0] == 0.0


def test_quantile_psi_by_hand():
    # Reference 1..10 gives edges at its quantiles; two bins ([<=5.5], [>5.5]) with n_bins=2.
    ref = np.arange(1.0, 11.0)
    cur = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])  # 5 low, 3 high
    expected = (0.5 - 5 / 8) * math.log(0.5 / (5 / 8)) + (0.5 - 3 / 8) * math.log(0.5 / (3 / 8))
    assert drift.psi(ref, cur, n_bins=2) == pytest.approx(expected, abs=1e-12)


def test_outer_bins_are_open_ended_and_empty_bins_get_epsilon():
    ref = np.arange(1.0, 11.0)
    cur = np.full(10, 1000.0)  # far beyond the reference: all land in the top bin, none lost
    ref_share, cur_share = drift.quantile_shares(ref, cur, n_bins=2, epsilon=1e-4)
    assert cur_share.tolist() == [1e-4, 1.0]
    assert ref_share.tolist() == [0.5, 0.5]
    expected = (0.5 - 1e-4) * math.log(0.5 / 1e-4) + (0.5 - 1.0) * math.log(0.5)
    assert drift.psi(ref, cur, n_bins=2, epsilon=1e-4) == pytest.approx(expected)


def test_deciles_of_a_shifted_normal_cross_the_critical_threshold():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=20000)
    assert drift.psi(ref, rng.normal(size=20000)) < 0.01
    assert drift.psi(ref, rng.normal(0.6, 1.0, size=20000)) > 0.3


def test_evidently_binning_zero_fill_rule():
    # 30 distinct values -> Sturges bins over both samples; current has empty bins.
    ref = np.linspace(0.0, 1.0, 30)
    cur = np.full(10, 0.05)
    ref_share, cur_share = drift.evidently_shares(ref, cur)
    assert cur_share.max() == 1.0
    assert np.all(cur_share[cur_share < 1.0] == 1e-4)  # smallest non-zero share 1.0 > 1e-4
    # Few distinct values -> one bin per value, union of both samples' values.
    ref_share, cur_share = drift.evidently_shares(np.array([0.0, 1.0, 1.0, 2.0]), np.array([3.0]))
    assert ref_share.tolist() == [0.25, 0.5, 0.25, 1e-4]
    # When the smallest non-zero share is at most 1e-4, empty bins get it / 1e6.
    rare = np.concatenate([np.zeros(19999), [1.0]])
    ref_share, _ = drift.evidently_shares(rare, np.array([2.0]))
    assert ref_share[-1] == pytest.approx(5e-5 / 1e6)


def test_ks_statistic_and_pvalue():
    statistic, pvalue = drift.ks(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0, np.nan]))
    assert statistic == 1.0
    assert 0.0 < pvalue < 0.2


def test_missing_rate_counts_nan_and_inf():
    assert drift.missing_rate(np.array([1.0, np.nan, np.inf, 2.0])) == 0.5
    assert drift.missing_rate(np.array([])) == 1.0


@pytest.mark.parametrize(
    ("psi", "missing", "status"),
    [
        (0.2, 0.05, "ok"),  # limits are strict: "above" 0.2
        (0.21, 0.0, "warning"),
        (0.31, 0.0, "critical"),
        (0.0, 0.06, "warning"),
        (0.0, 0.11, "critical"),
        (0.25, 0.11, "critical"),
        (float("nan"), 0.0, "critical"),  # fail closed
    ],
)
def test_classify(psi, missing, status):
    assert drift.classify(psi, missing, Thresholds())[0] == status


def test_feature_without_finite_values_is_critical():
    result = drift.feature_drift("f", np.ones(10), np.full(5, np.nan), Thresholds())
    assert result.status == "critical"
    assert result.as_dict()["psi"] is None
    assert drift.overall([result]) == "critical"


def test_unknown_binning_is_refused():
    with pytest.raises(ValueError, match="binning"):
        drift.psi(np.ones(3), np.ones(3), binning="equal")
