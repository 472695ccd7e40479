"""Every drift threshold at, just above and just below; severities combined across checks.

The hourly feature-health job pages on ``critical``: a feature whose PSI is critical must stay
critical whatever its missing rate says, and a value exactly at a limit does not trip it
("above" the limit does).
"""

from __future__ import annotations

import dataclasses
import math
import typing
import warnings

import numpy as np
import pytest

from pipelines.monitoring import drift
from pipelines.monitoring.drift import Thresholds

LIMITS = Thresholds()


def above(x: float) -> float:
    return math.nextafter(x, math.inf)


def below(x: float) -> float:
    return math.nextafter(x, -math.inf)


def test_default_limits_are_the_documented_ones() -> None:
    assert dataclasses.astuple(LIMITS) == (0.2, 0.3, 0.05, 0.10)


@pytest.mark.parametrize(
    ("psi", "status"),
    [
        (below(0.2), "ok"),
        (0.2, "ok"),
        (above(0.2), "warning"),
        (below(0.3), "warning"),
        (0.3, "warning"),
        (above(0.3), "critical"),
    ],
)
def test_psi_thresholds(psi: float, status: str) -> None:
    assert drift.classify(psi, 0.0, LIMITS)[0] == status


@pytest.mark.parametrize(
    ("missing", "status"),
    [
        (below(0.05), "ok"),
        (0.05, "ok"),
        (above(0.05), "warning"),
        (below(0.10), "warning"),
        (0.10, "warning"),
        (above(0.10), "critical"),
    ],
)
def test_missing_rate_thresholds(missing: float, status: str) -> None:
    assert drift.classify(0.0, missing, LIMITS)[0] == status


@pytest.mark.parametrize(
    ("psi", "missing", "status"),
    [
        (0.35, 0.06, "critical"),  # critical PSI, warning missing rate: still critical
        (0.25, 0.11, "critical"),  # warning PSI, critical missing rate
        (0.35, 0.11, "critical"),
        (0.25, 0.06, "warning"),
        (0.0, 0.0, "ok"),
    ],
)
def test_severity_is_the_worst_of_the_checks(psi: float, missing: float, status: str) -> None:
    assert drift.classify(psi, missing, LIMITS)[0] == status


def test_reasons_name_each_check_its_value_and_limit() -> None:
    status, reasons = drift.classify(0.35, 0.06, LIMITS)
    assert status == "critical"
    assert reasons == ["psi 0.3500 > critical 0.3", "missing_rate 0.0600 > warning 0.05"]
    assert drift.classify(0.25, 0.2, LIMITS)[1] == [
        "psi 0.2500 > warning 0.2",
        "missing_rate 0.2000 > critical 0.1",
    ]
    assert drift.classify(0.1, 0.0, LIMITS) == ("ok", [])
    assert drift.classify(math.nan, 0.0, LIMITS) == (
        "critical",
        ["psi is not a number (no finite values to compare)"],
    )


def test_custom_limits_are_used() -> None:
    tight = Thresholds(
        psi_warning=0.01, psi_critical=0.02, missing_warning=0.0, missing_critical=0.5
    )
    assert drift.classify(0.015, 0.0, tight)[0] == "warning"
    assert drift.classify(0.0, 0.01, tight)[0] == "warning"


def test_feature_drift_combines_a_critical_psi_with_a_warning_missing_rate() -> None:
    ref = np.linspace(0.0, 1.0, 1000)
    cur = np.concatenate([np.full(94, 5.0), np.full(6, np.nan)])  # far off, 6% missing
    result = drift.feature_drift("spread", ref, cur, LIMITS)
    assert result.status == "critical"
    assert result.missing_rate == pytest.approx(0.06)
    assert result.reasons[0].startswith("psi ") and "> critical 0.3" in result.reasons[0]
    assert result.reasons[1] == "missing_rate 0.0600 > warning 0.05"
    assert (result.reference_rows, result.current_rows) == (1000, 100)
    assert drift.overall([result]) == "critical"


def test_overall_is_the_worst_status_in_any_order() -> None:
    def made(status: drift.Status) -> drift.FeatureDrift:
        return drift.FeatureDrift("f", 0.0, 0.0, 1.0, 0.0, 1, 1, status, 0.2, 0.3)

    ok, warning, critical = made("ok"), made("warning"), made("critical")
    assert drift.overall([]) == "ok"
    assert drift.overall([ok, warning]) == "warning"
    assert drift.overall([warning, ok]) == "warning"
    assert drift.overall([warning, critical, ok]) == "critical"
    assert drift.overall([critical, warning]) == "critical"
    assert ok.reasons == []


def test_status_levels_are_the_gauge_values_the_alerts_read() -> None:
    # feature_health_status is exported as these numbers; the Literal lists the same statuses.
    assert drift.STATUS_LEVEL == {"ok": 0, "warning": 1, "critical": 2}
    assert typing.get_args(drift.Status) == ("ok", "warning", "critical")


def test_records_are_immutable() -> None:
    result = drift.FeatureDrift("f", 0.0, 0.0, 1.0, 0.0, 1, 1, "ok", 0.2, 0.3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "critical"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        LIMITS.psi_critical = 1.0  # type: ignore[misc]


def test_as_dict_turns_only_non_finite_floats_into_none() -> None:
    result = drift.FeatureDrift(
        "f", math.nan, 0.5, math.inf, 0.0, 3, 0, "critical", 0.2, 0.3, ["r"]
    )
    assert result.as_dict() == {
        "feature": "f",
        "psi": None,
        "ks_statistic": 0.5,
        "ks_pvalue": None,
        "missing_rate": 0.0,
        "reference_rows": 3,
        "current_rows": 0,
        "status": "critical",
        "psi_warning": 0.2,
        "psi_critical": 0.3,
        "reasons": ["r"],
    }


def test_missing_rate_edges() -> None:
    assert drift.missing_rate(np.array([1.0])) == 0.0
    assert drift.missing_rate(np.array([np.nan])) == 1.0
    assert drift.missing_rate(np.array([1.0, np.nan, 2.0, 3.0])) == 0.25


def test_quantile_edges_are_the_reference_deciles_by_default() -> None:
    ref = np.arange(1.0, 101.0)
    expected = np.quantile(ref, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert drift.quantile_edges(ref).tolist() == pytest.approx(expected.tolist(), rel=1e-12)
    quartiles = np.quantile(ref, [0.25, 0.5, 0.75])
    assert drift.quantile_edges(ref, 4).tolist() == pytest.approx(quartiles.tolist(), rel=1e-12)


def test_bin_shares_keep_one_share_per_bin_even_when_empty() -> None:
    shares = drift.bin_shares(np.array([1.0, 2.0, 2.0, 5.0]), np.array([2.0, 3.0, 4.0]))
    assert shares.tolist() == [0.75, 0.0, 0.0, 0.25]  # right-closed: 2.0 falls in the first bin
    low = drift.bin_shares(np.array([0.0, 1.0]), np.array([5.0, 6.0]))
    assert low.tolist() == [1.0, 0.0, 0.0]


def test_empty_bins_get_epsilon_by_default_and_only_they() -> None:
    assert drift.floor_empty(np.array([0.0, 0.25, 1.0])).tolist() == [1e-4, 0.25, 1.0]
    assert drift.floor_empty(np.array([0.0, 0.5]), 0.01).tolist() == [0.01, 0.5]


def test_default_psi_is_decile_psi_with_the_epsilon_convention() -> None:
    ref = np.arange(1.0, 101.0)
    cur = np.concatenate([np.full(30, 5.0), np.arange(51.0, 121.0)])  # bins 2-5 empty
    ref_share = np.full(10, 0.1)
    cur_share = np.array([0.3, 1e-4, 1e-4, 1e-4, 1e-4, 0.1, 0.1, 0.1, 0.1, 0.3])
    expected = float(np.sum((ref_share - cur_share) * np.log(ref_share / cur_share)))
    assert drift.psi(ref, cur) == pytest.approx(expected, rel=1e-12)
    shares = drift.quantile_shares(ref, cur)
    assert shares[1].tolist() == pytest.approx(cur_share.tolist())
    assert drift.feature_drift("f", ref, cur, LIMITS).psi == pytest.approx(expected, rel=1e-12)


def test_psi_and_ks_need_one_finite_value_on_each_side() -> None:
    one, two = np.array([1.0]), np.array([2.0])
    assert drift.psi(one, one) == 0.0
    assert drift.ks(one, two) == (1.0, 1.0)
    nothing = np.array([np.nan, np.inf])
    # NaN without asking scipy, whose warning for an empty sample would fill the hourly log.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for ref, cur in ((nothing, one), (one, nothing)):
            assert math.isnan(drift.psi(ref, cur))
            assert all(math.isnan(x) for x in drift.ks(ref, cur))


def test_evidently_binning_switches_at_twenty_distinct_values() -> None:
    twenty = np.arange(20.0)
    ref_share, _ = drift.evidently_shares(twenty, np.array([0.0]))
    assert ref_share.tolist() == [0.05] * 20  # one bin per value
    twenty_one = np.arange(21.0)
    ref_share, _ = drift.evidently_shares(twenty_one, np.array([0.0]))
    assert ref_share.size == np.histogram_bin_edges(twenty_one, bins="sturges").size - 1


def test_evidently_discrete_shares_are_per_value_over_both_samples() -> None:
    ref_share, cur_share = drift.evidently_shares(
        np.array([0.0, 1.0, 1.0, 2.0]), np.array([1.0, 3.0, 3.0, 3.0])
    )
    assert ref_share.tolist() == [0.25, 0.5, 0.25, 1e-4]
    assert cur_share.tolist() == [1e-4, 0.25, 1e-4, 0.75]


def test_evidently_numeric_bins_are_sturges_over_both_samples() -> None:
    ref = np.linspace(0.0, 10.0, 50)
    cur = np.linspace(5.0, 15.0, 40)
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    ref_counts = np.histogram(ref, bins=edges)[0]
    cur_counts = np.histogram(cur, bins=edges)[0]
    ref_share, cur_share = drift.evidently_shares(ref, cur)
    smallest = min((ref_counts[ref_counts > 0] / ref.size).min(), 1.0)
    assert smallest > 1e-4
    assert ref_share.tolist() == pytest.approx(np.where(ref_counts == 0, 1e-4, ref_counts / 50))
    assert cur_share.tolist() == pytest.approx(np.where(cur_counts == 0, 1e-4, cur_counts / 40))
    expected = float(np.sum((ref_share - cur_share) * np.log(ref_share / cur_share)))
    assert drift.psi(ref, cur, binning="evidently") == pytest.approx(expected)


def test_evidently_fill_when_the_smallest_share_is_exactly_the_floor() -> None:
    # Smallest non-zero share 1e-4 exactly: empty bins get 1e-4 / 1e6 ("at most 1e-4").
    ref = np.concatenate([np.zeros(9999), [1.0]])
    ref_share, cur_share = drift.evidently_shares(ref, np.array([2.0]))
    assert ref_share.tolist() == pytest.approx([0.9999, 1e-4, 1e-10])
    assert cur_share.tolist() == [1e-4, 1e-4, 1.0]
