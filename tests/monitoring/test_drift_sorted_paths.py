"""The sorted-sample paths of PSI and KS give exactly the figures of the plain ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipelines.monitoring import drift


def samples(kind: str, n1: int, n2: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n1 + n2)
    first, second = rng.normal(0, 1, n1), rng.normal(0.03, 1.1, n2)
    if kind == "ties":  # a discrete feature: few distinct values, shared by both samples
        first, second = np.round(first, 1), np.round(second, 1)
    elif kind == "constant":
        first = np.full(n1, 0.5)
    elif kind == "missing":
        second[rng.random(n2) < 0.1] = np.nan
        second[:3] = [np.inf, -np.inf, np.nan]
    elif kind == "same":
        second = first[: min(n1, n2)].copy()
    return first, second


@pytest.mark.parametrize("kind", ["continuous", "ties", "constant", "missing", "same"])
@pytest.mark.parametrize(("n1", "n2"), [(30_000, 12_001), (10_001, 50_000), (200, 9_000)])
def test_ks_equals_scipy(kind: str, n1: int, n2: int) -> None:
    first, second = samples(kind, n1, n2)
    expected = stats.ks_2samp(first[np.isfinite(first)], second[np.isfinite(second)])
    statistic, pvalue = drift.ks(first, second)
    assert statistic == float(expected.statistic)
    assert pvalue == float(expected.pvalue)
    # Already sorted input (as the hourly check passes it) changes nothing.
    assert drift.ks(np.sort(first), np.sort(second)) == (statistic, pvalue)


def test_the_large_sample_path_is_the_one_taken() -> None:
    first, second = samples("ties", 30_000, 12_001)
    assert max(first.size, second.size) > drift.KS_EXACT_MAX_N
    s1, s2 = np.sort(first), np.sort(second)
    assert drift.ks_statistic(s1, s2) == float(stats.ks_2samp(first, second).statistic)
    assert drift.ks_statistic(s2, s1) == drift.ks_statistic(s1, s2)


@pytest.mark.parametrize("kind", ["continuous", "ties", "constant", "missing"])
def test_bin_shares_of_sorted_values_equal_the_unsorted_count(kind: str) -> None:
    reference, current = samples(kind, 5_000, 3_000)
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    edges = drift.quantile_edges(reference, 10)
    plain = drift.bin_shares(current, edges)
    assert np.array_equal(drift.bin_shares(np.sort(current), edges), plain)
    assert plain.sum() == pytest.approx(1.0)
    for binning in ("quantile", "evidently"):
        assert drift.psi(np.sort(reference), np.sort(current), binning) == drift.psi(
            reference, current, binning
        )
