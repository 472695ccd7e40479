"""Outliers and value range of live features against the training reference (pure).

* **Outliers**: the share of live values beyond the reference's Tukey fences
  ``Q1 - k*IQR .. Q3 + k*IQR`` (``k`` = ``monitoring.checks.outliers.iqr_multiplier``, 3 by
  default: Tukey's "far out"). Quartiles and IQR are robust: a few extreme training values do
  not move the bounds, unlike mean +- n standard deviations.
* **Value range**: live minimum and maximum against the reference's, and the share of live
  values outside ``[min, max]`` of the reference: inputs the trees never saw (LightGBM keeps the
  last split's answer for them, whatever the value).

Shares count the non-NaN live values (infinities count, as out of any range); bounds are
inclusive. These are the definitions of Evidently's ``OutRangeValueCount`` (given the same
bounds), ``MinValue`` and ``MaxValue``, so the benchmark checks the figures are identical.
The check's figure is the largest share over features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.monitoring.checks import CheckResult, judged
from pipelines.monitoring.params import Limits, OutlierParams


@dataclass(frozen=True)
class Bounds:
    """A closed interval."""

    low: float
    high: float


def tukey_fences(reference: np.ndarray, multiplier: float) -> Bounds:
    """``Q1 - k*IQR .. Q3 + k*IQR`` of the finite reference values (NaN bounds if none)."""
    values = np.asarray(reference, dtype="float64")
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Bounds(float("nan"), float("nan"))
    q1, q3 = np.quantile(values, [0.25, 0.75])
    spread = q3 - q1
    return Bounds(float(q1 - multiplier * spread), float(q3 + multiplier * spread))


def reference_range(reference: np.ndarray) -> Bounds:
    """Minimum and maximum of the finite reference values (NaN if none)."""
    values = np.asarray(reference, dtype="float64")
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Bounds(float("nan"), float("nan"))
    return Bounds(float(values.min()), float(values.max()))


def share_outside(current: np.ndarray, bounds: Bounds) -> float:
    """Share of the non-NaN values outside ``[low, high]`` (NaN bounds or no value: NaN)."""
    values = np.asarray(current, dtype="float64")
    values = values[~np.isnan(values)]
    if values.size == 0 or not (np.isfinite(bounds.low) and np.isfinite(bounds.high)):
        return float("nan")
    inside = np.count_nonzero((values >= bounds.low) & (values <= bounds.high))
    return float((values.size - inside) / values.size)


def _extreme(values: np.ndarray, pick: str) -> float:
    arr = np.asarray(values, dtype="float64")
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return float("nan")
    return float(arr.min() if pick == "min" else arr.max())


def _largest(shares: dict[str, float]) -> tuple[str | None, float]:
    """The feature with the largest share; NaN wins (it fails closed)."""
    if not shares:
        return None, float("nan")
    for name, value in shares.items():
        if not np.isfinite(value):
            return name, float("nan")
    name = max(shares, key=lambda k: shares[k])
    return name, shares[name]


def outliers(
    reference: pd.DataFrame, current: pd.DataFrame, features: list[str], limits: OutlierParams
) -> CheckResult:
    """Share of live values beyond each feature's Tukey fences; the figure is the largest."""
    rows: dict[str, dict[str, float]] = {}
    shares: dict[str, float] = {}
    for name in features:
        fences = tukey_fences(
            reference[name].to_numpy(dtype="float64", na_value=np.nan), limits.iqr_multiplier
        )
        share = share_outside(current[name].to_numpy(dtype="float64", na_value=np.nan), fences)
        shares[name] = share
        rows[name] = {"low": fences.low, "high": fences.high, "share": share}
    worst_name, value = _largest(shares)
    verdict = (
        f"largest share beyond the Tukey fences (k={limits.iqr_multiplier:g}): "
        f"{value:.2%} on {worst_name}"
    )
    return judged("outliers", value, limits, verdict, {"features": rows})


def value_range(
    reference: pd.DataFrame, current: pd.DataFrame, features: list[str], limits: Limits
) -> CheckResult:
    """Live min/max against the training range; the figure is the largest share outside it."""
    rows: dict[str, dict[str, float]] = {}
    shares: dict[str, float] = {}
    for name in features:
        ref = reference[name].to_numpy(dtype="float64", na_value=np.nan)
        cur = current[name].to_numpy(dtype="float64", na_value=np.nan)
        span = reference_range(ref)
        share = share_outside(cur, span)
        shares[name] = share
        rows[name] = {
            "reference_min": span.low,
            "reference_max": span.high,
            "live_min": _extreme(cur, "min"),
            "live_max": _extreme(cur, "max"),
            "share_outside": share,
        }
    worst_name, value = _largest(shares)
    verdict = f"largest share outside the training range: {value:.2%} on {worst_name}"
    return judged("value_range", value, limits, verdict, {"features": rows})
