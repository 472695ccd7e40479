"""Population stability index against reference quantile bins (pure, no I/O).

The reference is summarised once (its inner quantile edges and the share of values in each
bin), so a run only has to keep that small summary to be compared with the next run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
    quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(quantiles)
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
    return {
        "edges": edges.tolist(),
        "fractions": (counts / finite.size).tolist(),
        "count": int(finite.size),
    }


def psi(reference: dict[str, Any], values: np.ndarray) -> float:
    """PSI of ``values`` against a :func:`reference_bins` summary.

    Returns:
        ``sum((actual - expected) * ln(actual / expected))`` over the reference bins, with
        empty bins floored at ``EPSILON``; NaN when either side has no finite values.
    """
    finite = values[np.isfinite(values)]
    expected = np.asarray(reference.get("fractions", []), dtype="float64")
    if finite.size == 0 or expected.size == 0:
        return float("nan")
    edges = np.asarray(reference["edges"], dtype="float64")
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
    actual = np.maximum(counts / finite.size, EPSILON)
    expected = np.maximum(expected, EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
