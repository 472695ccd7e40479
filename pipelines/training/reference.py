"""What a bundle carries for monitoring: the training reference and the backtest's prediction power.

**Reference**: a seeded sample of ``training.reference_rows`` rows from the **last**
``training.reference_window_bars`` timestamps of the training span (252: one trading year of
daily bars), not from the whole span. The hourly check compares live features with it. A sample
of thirty years would make normal level drift of slow features (volatility regimes, momentum)
look like a broken feed: the bundled model's latest month scored PSI 0.89 on ``mom_126`` against
it while being inside its own training span. The model is retrained weekly, so the last year
of its training data is what "looks like training" should mean.

**Prediction power**: the IC and hit rate of the walk-forward out-of-sample predictions against
the realised forward returns, pooled and by instrument (:func:`pipelines.monitoring.power.
baseline`), the figures the hourly check's live IC and hit rate are compared with.

**PSI limits**: each feature's warning and critical PSI, calibrated on the training span with the
hourly check's own windows (:mod:`pipelines.monitoring.psi_limits`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.monitoring import hourly
from pipelines.monitoring import psi_limits as calibration
from pipelines.monitoring.power import baseline


def recent_rows(time_positions: np.ndarray, window_bars: int, rows: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded sample of ``rows`` rows within the last ``window_bars`` times.

    Args:
        time_positions: Each row's time position (0 .. n_times - 1), rows sorted by time.
        window_bars: How many latest time positions make the window.
        rows: Sample size (all rows of the window when it has fewer).
        seed: Seed of the sample.
    """
    positions = np.asarray(time_positions)
    if positions.size == 0:
        return np.array([], dtype=int)
    first = positions.max() - window_bars + 1
    candidates = np.flatnonzero(positions >= first)
    rng = np.random.default_rng(seed)
    picked = rng.choice(candidates, size=min(rows, candidates.size), replace=False)
    return np.sort(picked)


def reference_summary(frame: pd.DataFrame, picked: np.ndarray, window_bars: int) -> dict[str, Any]:
    """How the reference was chosen, for the bundle's metadata."""
    stamps = frame["timestamp"].iloc[picked]
    return {
        "window_bars": window_bars,
        "rows": len(picked),
        "start": str(stamps.min()),
        "end": str(stamps.max()),
        "how": "seeded sample of the last window_bars timestamps of the training span",
    }


def backtest_prediction_power(
    frame: pd.DataFrame, rows: np.ndarray, predictions: np.ndarray, objective: str
) -> dict[str, Any]:
    """IC and hit rate of out-of-sample predictions (``frame`` has ``fwd_return``)."""
    picked = frame.iloc[rows][["timestamp", "instrument", "fwd_return"]]
    out = baseline(
        picked.assign(prediction=np.asarray(predictions, dtype="float64")),
        0.5 if objective == "binary" else 0.0,
    )
    # JSON-safe: a NaN figure (an instrument too short to rank) becomes None.
    out["by_instrument"] = {
        name: {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()
        }
        for name, row in out["by_instrument"].items()
    }
    for key in ("ic", "hit_rate"):
        if not np.isfinite(out[key]):
            out[key] = None
    return out


def psi_limits(
    frame: pd.DataFrame, time_positions: np.ndarray, features: list[str], params: Params
) -> dict[str, Any]:
    """Per-feature PSI limits from the training rows, in the hourly check's geometry.

    The reference window is ``training.reference_window_bars`` long (the bundle's reference);
    the live window ends ``monitoring.window_bars`` after it, one end point every
    ``monitoring.window_bars`` bars; ``health.psi_warning``/``psi_critical`` are the floor.
    """
    mon = params.monitoring
    return calibration.calibrate(
        time_positions,
        {name: frame[name].to_numpy(dtype="float64", na_value=np.nan) for name in features},
        hourly.feature_bars(features, params),
        reference_bars=params.training.reference_window_bars,
        gap_bars=mon.window_bars,
        step=mon.window_bars,
        floor=(params.health.psi_warning, params.health.psi_critical),
        binning=mon.binning,
        n_bins=mon.n_bins,
        epsilon=mon.epsilon,
    )
