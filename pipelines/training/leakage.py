"""Leakage checks run in the pipeline (pure functions); any finding fails the gates.

1. The embargo covers the label horizon.
2. No training sample's label window ``[timestamp, label_end]`` overlaps a test block of any
   split, and none starts inside the embargo after one (checked on the splits actually used,
   independently of how they were built).
3. No label column is a feature, and no feature tracks the label almost perfectly.
4. Truncation re-run: features recomputed from bars cut at a sample of timestamps equal the
   stored features at those timestamps (a feature that reads a later bar differs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from pipelines.training.splits import Split

FeatureFn = Callable[[pd.DataFrame], pd.DataFrame]


def check_embargo(embargo: int, horizon: int) -> list[str]:
    """Finding when the embargo is shorter than the label horizon."""
    if embargo < horizon:
        return [f"embargo of {embargo} bars is shorter than the label horizon of {horizon} bars"]
    return []


def check_splits(
    name: str,
    splits: Sequence[Split],
    timestamps: pd.DatetimeIndex,
    label_ends: pd.DatetimeIndex,
    times: pd.DatetimeIndex,
    embargo: int,
) -> list[str]:
    """Findings for training rows whose label window overlaps or trails a test block.

    Args:
        name: Split family for the message (``walk_forward`` or ``cpcv``).
        splits: The splits used.
        timestamps: Sample timestamps.
        label_ends: Sample label end times.
        times: Sorted unique timestamps (to find the embargo's end time).
        embargo: Embargo in bars.
    """
    findings = []
    for index, split in enumerate(splits):
        start = timestamps[split.train]
        end = label_ends[split.train]
        for first, last in split.blocks:
            block_start, block_end = times[first], times[last]
            overlap = int(np.sum((start <= block_end) & (end >= block_start)))
            if overlap:
                findings.append(
                    f"{name} split {index}: {overlap} training rows have a label window "
                    f"overlapping the test block {times[first]} .. {times[last]}"
                )
            stop = times[min(last + embargo, len(times) - 1)]
            inside = int(np.sum((start > block_end) & (start <= stop)))
            if inside and embargo > 0:
                findings.append(
                    f"{name} split {index}: {inside} training rows inside the embargo after "
                    f"{times[last]}"
                )
    return findings


def check_label_columns(
    features: pd.DataFrame, feature_names: list[str], label: pd.Series, max_abs_corr: float
) -> list[str]:
    """Findings for label columns used as features or features that mirror the label."""
    findings = [
        f"label column {c!r} is used as a feature"
        for c in ("fwd_return", "label_sign", "label_end")
        if c in feature_names
    ]
    for column in feature_names:
        corr = features[column].corr(label)
        if np.isfinite(corr) and abs(corr) > max_abs_corr:
            findings.append(
                f"feature {column!r} has correlation {corr:.3f} with the label "
                f"(above {max_abs_corr}): it looks computed from the future"
            )
    return findings


def check_truncation(
    bars: pd.DataFrame,
    stored: pd.DataFrame,
    feature_names: list[str],
    feature_fn: FeatureFn,
    sample_times: Sequence[pd.Timestamp],
    tolerance: float,
) -> list[str]:
    """Recompute features on bars truncated at each sample time and compare with ``stored``.

    Args:
        bars: Long bars the store was built from.
        stored: The feature store frame (``timestamp``, ``instrument``, features).
        feature_names: Columns to compare.
        feature_fn: The feature code (long bars in, store-shaped frame out).
        sample_times: Timestamps to truncate at.
        tolerance: Largest allowed absolute difference (NaN must match NaN).
    """
    findings = []
    for t in sample_times:
        recomputed = feature_fn(bars[bars["timestamp"] <= t])
        now = recomputed[recomputed["timestamp"] == t].set_index("instrument")[feature_names]
        ref = stored[stored["timestamp"] == t].set_index("instrument")[feature_names]
        now = now.reindex(ref.index)
        a, b = now.to_numpy(dtype="float64"), ref.to_numpy(dtype="float64")
        same = (np.abs(a - b) <= tolerance * np.maximum(1.0, np.abs(b))) | (
            np.isnan(a) & np.isnan(b)
        )
        for j in np.flatnonzero(~same.all(axis=0)):
            findings.append(
                f"feature {feature_names[j]!r} at {t} changes when bars after {t} are removed: "
                "it uses future data"
            )
    return findings


def sample_timestamps(
    times: pd.DatetimeIndex, n: int, seed: int, min_position: int
) -> list[pd.Timestamp]:
    """A seeded sample of ``n`` timestamps after the warm-up and before the last bar, sorted.

    The last bar is excluded: with nothing after it, a future-reading feature cannot differ.
    """
    rng = np.random.default_rng(seed)
    eligible = np.arange(min(min_position, len(times) - 2), len(times) - 1)
    chosen = rng.choice(eligible, size=min(n, eligible.size), replace=False)
    return [times[i] for i in sorted(chosen)]
