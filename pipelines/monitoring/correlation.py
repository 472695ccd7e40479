"""Correlation stability: the feature-feature correlation matrix, live against training (pure).

Pearson correlations over the rows where both features are present (pairwise complete, as
``pandas.DataFrame.corr`` and Evidently's ``CorrelationMatrix(kind="pearson")`` compute them).
The figure is the mean absolute change over all pairs; the report lists the pairs that moved
most. A model that learnt how features move together (a high momentum with a low volatility)
is fed combinations it never saw when those relations break, even if every feature's own
distribution looks normal.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from pipelines.monitoring.checks import CheckResult, judged, no_verdict
from pipelines.monitoring.params import CorrelationParams


def correlation_matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Pairwise-complete Pearson correlations of ``features`` (infinities treated as missing)."""
    data = frame[features].astype("float64").replace([np.inf, -np.inf], np.nan)
    return data.corr(method="pearson")


def pair_changes(
    reference: pd.DataFrame, current: pd.DataFrame, features: list[str]
) -> list[tuple[str, str, float, float]]:
    """``(a, b, reference rho, live rho)`` for every pair of features, in name order."""
    ref = correlation_matrix(reference, features).to_numpy(dtype="float64")
    cur = correlation_matrix(current, features).to_numpy(dtype="float64")
    return [
        (features[i], features[j], float(ref[i, j]), float(cur[i, j]))
        for i, j in itertools.combinations(range(len(features)), 2)
    ]


def correlation(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    limits: CorrelationParams,
) -> CheckResult:
    """Mean absolute change of the pairwise correlations and the pairs that moved most."""
    if len(features) < 2:
        return no_verdict("correlation", limits, "fewer than two features: no pairs", {})
    pairs = pair_changes(reference, current, features)
    changes = np.array([abs(live - ref) for _, _, ref, live in pairs])
    # A constant feature has no correlation (NaN): fail closed rather than skip it.
    value = float(changes.mean()) if np.all(np.isfinite(changes)) else float("nan")
    order = np.argsort(-np.nan_to_num(changes, nan=np.inf), kind="stable")
    movers = [
        {"pair": f"{pairs[i][0]}~{pairs[i][1]}", "reference": pairs[i][2], "live": pairs[i][3]}
        for i in order[: limits.top_pairs]
    ]
    verdict = f"mean |change| of {len(pairs)} pairwise correlations: {value:.3f}"
    if movers:
        top = movers[0]
        verdict += f"; most moved {top['pair']} {top['reference']:+.2f} -> {top['live']:+.2f}"
    return judged(
        "correlation",
        value,
        limits,
        verdict,
        {"pairs": len(pairs), "max_change": float(np.nanmax(changes)), "movers": movers},
    )
