"""Population stability index of a run against a stored summary of the previous run (pure).

The reference is summarised once (its inner quantile edges and the share of values in each
bin), so a run only has to keep that small summary to be compared with the next run. Binning,
the empty-bin epsilon and the PSI itself are those of :mod:`pipelines.monitoring.drift`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.monitoring.drift import bin_shares, floor_empty, psi_from_shares, quantile_edges

EPSILON = 1e-4


def reference_bins(values: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Summarise a reference sample by its quantile bins.

    Args:
        values: Reference values (NaN and infinities are ignored).
        bins: Number of quantile bins (10 = deciles).

    Returns:
        ``edges`` (inner bin edges, ascending, unique), ``fractions`` (share per bin) and
        ``count``; an empty sample gives no edges and no fractions.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"edges": [], "fractions": [], "count": 0}
    edges = quantile_edges(finite, bins)
    return {
        "edges": edges.tolist(),
        "fractions": bin_shares(finite, edges).tolist(),
        "count": int(finite.size),
    }


def psi(reference: dict[str, Any], values: np.ndarray) -> float:
    """PSI of ``values`` against a :func:`reference_bins` summary.

    Returns:
        The PSI over the reference bins, with empty bins given ``EPSILON``; NaN when either
        side has no finite values.
    """
    finite = values[np.isfinite(values)]
    expected = np.asarray(reference.get("fractions", []), dtype="float64")
    if finite.size == 0 or expected.size == 0:
        return float("nan")
    actual = bin_shares(finite, np.asarray(reference["edges"], dtype="float64"))
    return psi_from_shares(floor_empty(expected, EPSILON), floor_empty(actual, EPSILON))
