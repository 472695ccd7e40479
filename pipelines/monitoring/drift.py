"""Drift figures per feature: PSI, two-sample KS and missing rate (pure functions, no I/O).

PSI (population stability index) compares the shares of two samples over the same bins:
``sum((ref - cur) * ln(ref / cur))``. Two binnings are offered:

* ``quantile`` (default): the reference's deciles (``n_bins`` quantile bins) with open-ended
  outer bins, so live values beyond the reference's range still land in a bin. Bins are
  right-closed; tied quantiles (discrete features) merge into one bin. An empty bin's share is
  replaced by ``epsilon`` (default 1e-4) without renormalising, so the log stays finite; this is
  the convention behind the usual 0.1 / 0.2 / 0.3 reading of PSI.
* ``evidently``: what Evidently 0.7's ``psi`` stat test computes (whatever its docstring says):
  numeric features with more than 20 distinct reference values get equal-width bins over both
  samples together, their count by Sturges' rule (``numpy.histogram_bin_edges(..., "sturges")``);
  other features get one bin per distinct value. A zero share is replaced by the smallest
  non-zero share / 1e6 when that is at most 1e-4, else by 1e-4. Non-finite values are dropped
  first, as Evidently does. This option exists so the figures can be checked against Evidently.

KS is ``scipy.stats.ks_2samp`` on the finite values. At large samples the p-value underflows to
0, so the statistic (the largest distance between the two empirical CDFs) is the drift size that
is reported and alerted on; the p-value is kept for reference. The missing rate counts NaN and
infinite values of the current sample.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Status = Literal["ok", "warning", "critical"]
STATUS_LEVEL: dict[Status, int] = {"ok": 0, "warning": 1, "critical": 2}
EVIDENTLY_DISCRETE_MAX = 20
KS_EXACT_MAX_N = 10_000  # ks_2samp's "auto" mode is exact up to this sample size


@dataclass(frozen=True)
class Thresholds:
    """Warning and critical limits (from ``health`` in params.yaml); a value above one trips it."""

    psi_warning: float = 0.2
    psi_critical: float = 0.3
    missing_warning: float = 0.05
    missing_critical: float = 0.10


@dataclass(frozen=True)
class FeatureDrift:
    """Drift figures of one feature, the PSI limits applied to it and the verdict they give."""

    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    missing_rate: float
    reference_rows: int
    current_rows: int
    status: Status
    psi_warning: float
    psi_critical: float
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (NaN becomes None)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not np.isfinite(value):
                out[key] = None
        return out


def _finite(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    return arr[np.isfinite(arr)]


def missing_rate(values: np.ndarray) -> float:
    """Share of NaN or infinite values (1.0 for an empty sample: nothing usable arrived)."""
    arr = np.asarray(values, dtype="float64")
    if arr.size == 0:
        return 1.0
    return float(np.count_nonzero(~np.isfinite(arr)) / arr.size)


def psi_from_shares(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two share vectors over the same bins (no zero may remain in either)."""
    return float(np.sum((reference - current) * np.log(reference / current)))


def quantile_edges(reference: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Inner edges of the reference's quantile bins (unique; outer bins are open-ended)."""
    return np.unique(np.quantile(reference, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))


def _is_sorted(values: np.ndarray) -> bool:
    return values.size < 2 or bool(np.all(values[1:] >= values[:-1]))


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin of ``edges`` (``edges.size + 1`` bins, right-closed)."""
    if _is_sorted(values):
        # Sorted values (the hourly check sorts each sample once for PSI and KS): the count up
        # to each edge is one binary search, not one per value.
        upto = np.searchsorted(values, edges, side="right")
        counts = np.diff(np.concatenate(([0], upto, [values.size])))
    else:
        # searchsorted(side="left") puts x in bin i when edge[i-1] < x <= edge[i]: right-closed.
        counts = np.bincount(np.searchsorted(edges, values), minlength=edges.size + 1)
    return counts / values.size


def floor_empty(shares: np.ndarray, epsilon: float = 1e-4) -> np.ndarray:
    """Give an empty bin the share ``epsilon`` so the PSI's logarithm stays finite."""
    return np.where(shares == 0, epsilon, shares)


def quantile_shares(
    reference: np.ndarray, current: np.ndarray, n_bins: int = 10, epsilon: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Shares of both samples over the reference's quantile bins (finite values given).

    Args:
        reference: Finite reference values.
        current: Finite current values.
        n_bins: Number of quantile bins (10 gives deciles).
        epsilon: Share given to an empty bin.

    Returns:
        Reference shares and current shares, one per bin.
    """
    inner = quantile_edges(reference, n_bins)
    return (
        floor_empty(bin_shares(reference, inner), epsilon),
        floor_empty(bin_shares(current, inner), epsilon),
    )


def _evidently_fill(shares: np.ndarray) -> np.ndarray:
    smallest = shares[shares != 0].min()
    fill = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(shares == 0, fill, shares)


def evidently_shares(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares of both samples binned as Evidently 0.7's ``psi`` stat test bins numeric data.

    Args:
        reference: Finite reference values.
        current: Finite current values.

    Returns:
        Reference shares and current shares, zero shares filled by Evidently's rule.
    """
    if np.unique(reference).size > EVIDENTLY_DISCRETE_MAX:
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        # Same edges as passing the array (linspace over the range) but numpy's fast path.
        bins, span = edges.size - 1, (float(edges[0]), float(edges[-1]))
        ref_share = np.histogram(reference, bins=bins, range=span)[0] / reference.size
        cur_share = np.histogram(current, bins=bins, range=span)[0] / current.size
    else:
        keys = np.union1d(reference, current)
        ref_counts = np.bincount(np.searchsorted(keys, reference), minlength=keys.size)
        cur_counts = np.bincount(np.searchsorted(keys, current), minlength=keys.size)
        ref_share = ref_counts / reference.size
        cur_share = cur_counts / current.size
    return _evidently_fill(ref_share), _evidently_fill(cur_share)


def psi(
    reference: np.ndarray,
    current: np.ndarray,
    binning: str = "quantile",
    n_bins: int = 10,
    epsilon: float = 1e-4,
) -> float:
    """PSI of the finite values of two samples; NaN when either has no finite value."""
    ref, cur = _finite(reference), _finite(current)
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    if binning == "evidently":
        ref_share, cur_share = evidently_shares(ref, cur)
    elif binning == "quantile":
        ref_share, cur_share = quantile_shares(ref, cur, n_bins, epsilon)
    else:
        raise ValueError(f"binning: expected 'quantile' or 'evidently', got {binning!r}")
    return psi_from_shares(ref_share, cur_share)


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """KS statistic and p-value of the finite values, as ``scipy.stats.ks_2samp`` (two-sided).

    Small samples go to scipy (its exact p-value). Above ``KS_EXACT_MAX_N`` values scipy uses
    the asymptotic distribution; the same figures come from :func:`ks_statistic` with half
    the binary searches, and the same ``kstwo`` survival function.
    """
    from scipy import stats  # here: half a second that importers of the figures never need

    ref, cur = _finite(reference), _finite(current)
    if ref.size == 0 or cur.size == 0:
        return float("nan"), float("nan")
    if max(ref.size, cur.size) <= KS_EXACT_MAX_N:
        result = stats.ks_2samp(ref, cur)
        return float(result.statistic), float(result.pvalue)
    statistic = ks_statistic(np.sort(ref), np.sort(cur))
    m, n = sorted((float(ref.size), float(cur.size)), reverse=True)
    pvalue = stats.kstwo.sf(statistic, np.round(m * n / (m + n)))
    return statistic, float(np.clip(pvalue, 0.0, 1.0))


def _own_counts(values: np.ndarray) -> np.ndarray:
    """How many values of a sorted sample are at most each of its values (ties counted)."""
    if values.size > 1 and bool(np.any(values[1:] == values[:-1])):
        return np.searchsorted(values, values, side="right")
    return np.arange(1, values.size + 1)


def ks_statistic(first: np.ndarray, second: np.ndarray) -> float:
    """Largest distance between the empirical CDFs of two sorted, non-empty samples.

    ``ks_2samp`` evaluates ``cdf1 - cdf2`` at every point of both samples. That difference only
    rises at points of the first sample and only falls at points of the second, so its maximum
    is reached at a point of the first and its minimum at a point of the second: evaluating
    there, with the same divisions, gives scipy's figure exactly with half the searches.
    """
    n1, n2 = first.size, second.size
    at_first = _own_counts(first) / n1 - np.searchsorted(second, first, side="right") / n2
    at_second = np.searchsorted(first, second, side="right") / n1 - _own_counts(second) / n2
    below = float(np.clip(-at_second.min(), 0.0, 1.0))
    above = float(at_first.max())
    return below if below > above else above


def classify(psi_value: float, missing: float, limits: Thresholds) -> tuple[Status, list[str]]:
    """Verdict of one feature's figures; a NaN PSI fails closed as critical."""
    reasons: list[str] = []
    status: Status = "ok"
    if not np.isfinite(psi_value):
        return "critical", ["psi is not a number (no finite values to compare)"]
    for value, name, warn, crit in (
        (psi_value, "psi", limits.psi_warning, limits.psi_critical),
        (missing, "missing_rate", limits.missing_warning, limits.missing_critical),
    ):
        if value > crit:
            status = "critical"
            reasons.append(f"{name} {value:.4f} > critical {crit}")
        elif value > warn:
            status = "critical" if status == "critical" else "warning"
            reasons.append(f"{name} {value:.4f} > warning {warn}")
    return status, reasons


def feature_drift(
    name: str,
    reference: np.ndarray,
    current: np.ndarray,
    limits: Thresholds,
    binning: str = "quantile",
    n_bins: int = 10,
    epsilon: float = 1e-4,
) -> FeatureDrift:
    """All drift figures of one feature and their verdict."""
    psi_value = psi(reference, current, binning, n_bins, epsilon)
    statistic, pvalue = ks(reference, current)
    missing = missing_rate(current)
    status, reasons = classify(psi_value, missing, limits)
    return FeatureDrift(
        feature=name,
        psi=psi_value,
        ks_statistic=statistic,
        ks_pvalue=pvalue,
        missing_rate=missing,
        reference_rows=int(np.asarray(reference).size),
        current_rows=int(np.asarray(current).size),
        status=status,
        psi_warning=limits.psi_warning,
        psi_critical=limits.psi_critical,
        reasons=reasons,
    )


def overall(results: list[FeatureDrift]) -> Status:
    """The worst status of all features (``ok`` when there are none)."""
    worst: Status = "ok"
    for result in results:
        if STATUS_LEVEL[result.status] > STATUS_LEVEL[worst]:
            worst = result.status
    return worst
