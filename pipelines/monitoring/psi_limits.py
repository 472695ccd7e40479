"""Per-feature PSI limits calibrated on the training history; the bundle carries them.

Why: the hourly check compares a live window of a few bars of every instrument with a year of
training rows. The PSI of such a window has a noise floor that depends on the feature and the
market: a 14-bar RSI of twenty stocks moves together in a rally, so one normal month can score
PSI 2 while a slow volatility feature scores 0.1. One fixed limit (0.2 / 0.3) either pages on
normal markets or never pages. So each feature's limits are set where its PSI is rare in the
model's own history, the way the other hourly limits were set (warning near the 95th percentile,
critical above the 99th), and never below the configured ``health`` limits.

How: at end points every ``step`` bars through the training span, the reference is the
``reference_bars`` latest bars ending ``gap_bars`` before the end point (the model's reference is
its last training year; ``gap_bars`` is the live window that follows it) and the live window is
the feature's own window length ending at the end point, exactly the geometry of the hourly check.
Pure: arrays in, a JSON-ready dict out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pipelines.monitoring import drift

MIN_WINDOWS = 20
HOW = (
    "PSI of each feature's live window (its own length) against the preceding reference window, "
    "at end points through the training span; warning = max(health.psi_warning, p95), "
    "critical = max(health.psi_critical, p99)"
)


def calibrate(
    positions: np.ndarray,
    values: Mapping[str, np.ndarray],
    window_bars: Mapping[str, int],
    *,
    reference_bars: int,
    gap_bars: int,
    step: int,
    floor: tuple[float, float],
    binning: str = "quantile",
    n_bins: int = 10,
    epsilon: float = 1e-4,
) -> dict[str, Any]:
    """Warning and critical PSI limits per feature from its rolling PSI over the history.

    Args:
        positions: Each row's time position (0 .. n_times - 1).
        values: Feature values by name, aligned with ``positions``.
        window_bars: The live window length of each feature (``hourly.feature_bars``).
        reference_bars: Bars of the reference window (``training.reference_window_bars``).
        gap_bars: Bars between the reference's end and the live window's end.
        step: Bars between two end points.
        floor: The configured (warning, critical) limits; calibrated limits never go below.
        binning: ``quantile`` or ``evidently``, as the hourly check bins.
        n_bins: Quantile bins.
        epsilon: Share given to an empty bin.

    Returns:
        ``{"windows": {feature: n}, "features": {feature: {"warning", "critical", "p95",
        "p99"}}, ...}``; a feature with fewer than ``MIN_WINDOWS`` end points keeps the floor
        (its ``p95``/``p99`` are None).
    """
    pos = np.asarray(positions)
    order = np.argsort(pos, kind="stable")
    pos = pos[order]
    n_times = int(pos.max()) + 1 if pos.size else 0
    # Row range of each time position: rows at positions [a, b) are pos.searchsorted(a)..(b).
    bounds = np.searchsorted(pos, np.arange(n_times + 1))
    warn_floor, crit_floor = floor
    features: dict[str, dict[str, float | None]] = {}
    windows: dict[str, int] = {}
    for name, raw in values.items():
        column = np.asarray(raw, dtype="float64")[order]
        live_bars = int(window_bars[name])
        first_end = max(reference_bars + gap_bars, live_bars) - 1
        scores = []
        for end in range(n_times - 1, first_end - 1, -step):
            ref_stop = end - gap_bars + 1
            ref = column[bounds[ref_stop - reference_bars] : bounds[ref_stop]]
            cur = column[bounds[end - live_bars + 1] : bounds[end + 1]]
            score = drift.psi(ref, cur, binning, n_bins, epsilon)
            if np.isfinite(score):
                scores.append(score)
        windows[name] = len(scores)
        if len(scores) < MIN_WINDOWS:
            features[name] = {
                "warning": warn_floor,
                "critical": crit_floor,
                "p95": None,
                "p99": None,
            }
            continue
        p95, p99 = (float(v) for v in np.percentile(scores, [95, 99]))
        features[name] = {
            "warning": round(max(warn_floor, p95), 4),
            "critical": round(max(crit_floor, p99), 4),
            "p95": round(p95, 4),
            "p99": round(p99, 4),
        }
    return {
        "how": HOW,
        "reference_bars": reference_bars,
        "gap_bars": gap_bars,
        "step_bars": step,
        "windows": windows,
        "features": features,
    }


def limits_for(
    metadata: Mapping[str, Any] | None, feature: str, floor: tuple[float, float]
) -> tuple[float, float]:
    """The (warning, critical) PSI limits of ``feature``: the bundle's, else the floor.

    A bundle trained before calibration existed, or a feature it did not calibrate, gets the
    configured limits: never looser than configured, so a missing calibration fails closed.
    """
    calibrated = (metadata or {}).get("psi_limits", {}).get("features", {}).get(feature)
    if not isinstance(calibrated, Mapping):
        return floor
    warning, critical = calibrated.get("warning"), calibrated.get("critical")
    if not isinstance(warning, int | float) or not isinstance(critical, int | float):
        return floor
    if not (np.isfinite(warning) and np.isfinite(critical)) or warning > critical:
        return floor
    return max(floor[0], float(warning)), max(floor[1], float(critical))
