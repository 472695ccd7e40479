"""Purged walk-forward and combinatorial purged cross-validation (pure functions).

Samples are described by the position of their timestamp and of their label end in the sorted
unique timestamps (``start_pos`` and ``end_pos``). A test block is a contiguous range of those
positions. A training sample is purged when its label window ``[start, end]`` overlaps a test
block, and embargoed when it starts within ``embargo`` bars after a test block ends (serial
correlation of features and labels reaches past the block).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Split:
    """One train/test split over sample rows.

    Attributes:
        train: Row indices used for training (purged and embargoed).
        test: Row indices whose predictions are out of sample.
        blocks: Test blocks as inclusive ``(first, last)`` time positions.
        groups: For CPCV, the group numbers tested; for walk-forward, the one block.
    """

    train: np.ndarray
    test: np.ndarray
    blocks: tuple[tuple[int, int], ...]
    groups: tuple[int, ...]


def time_positions(
    timestamps: pd.Series, label_ends: pd.Series
) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Map sample timestamps and label ends to positions in the sorted unique timestamps.

    A label end later than every timestamp maps past the end (it still overlaps nothing).

    Returns:
        ``(start_pos, end_pos, unique_times)``.
    """
    # Through DatetimeIndex, not numpy: a tz-aware column becomes an object array there (slow).
    times = pd.DatetimeIndex(timestamps.unique()).sort_values()
    start = times.searchsorted(pd.DatetimeIndex(timestamps))
    end = times.searchsorted(pd.DatetimeIndex(label_ends))
    return np.asarray(start, dtype="int64"), np.asarray(end, dtype="int64"), times


def block_bounds(n_times: int, n_blocks: int) -> list[tuple[int, int]]:
    """Split ``n_times`` positions into ``n_blocks`` contiguous inclusive ranges."""
    if n_blocks > n_times:
        raise ValueError(f"cannot split {n_times} timestamps into {n_blocks} blocks")
    edges = np.linspace(0, n_times, n_blocks + 1).round().astype(int)
    return [(int(edges[i]), int(edges[i + 1]) - 1) for i in range(n_blocks)]


def keep_for_training(
    start_pos: np.ndarray,
    end_pos: np.ndarray,
    blocks: tuple[tuple[int, int], ...],
    embargo: int,
) -> np.ndarray:
    """Mask of samples that may train a model tested on ``blocks``.

    A sample is dropped when it lies in a block, when its label window overlaps a block
    (purging) or when it starts within ``embargo`` positions after a block (embargo).
    """
    keep = np.ones(start_pos.shape[0], dtype=bool)
    for first, last in blocks:
        # A label end before its own start (bad data) must not keep a test row in training.
        overlaps = (start_pos <= last) & (np.maximum(end_pos, start_pos) >= first)
        embargoed = (start_pos > last) & (start_pos <= last + embargo)
        keep &= ~(overlaps | embargoed)
    return keep


def _in_blocks(start_pos: np.ndarray, blocks: tuple[tuple[int, int], ...]) -> np.ndarray:
    mask = np.zeros(start_pos.shape[0], dtype=bool)
    for first, last in blocks:
        mask |= (start_pos >= first) & (start_pos <= last)
    return mask


def walk_forward(
    start_pos: np.ndarray, end_pos: np.ndarray, n_times: int, n_folds: int, embargo: int
) -> list[Split]:
    """Expanding-window walk-forward: the time axis in ``n_folds + 1`` blocks, test each later one.

    Training uses only samples before the test block whose label ends before it starts.
    """
    bounds = block_bounds(n_times, n_folds + 1)
    splits = []
    for fold, block in enumerate(bounds[1:], start=1):
        blocks = (block,)
        keep = keep_for_training(start_pos, end_pos, blocks, embargo) & (start_pos < block[0])
        test = _in_blocks(start_pos, blocks)
        splits.append(
            Split(np.flatnonzero(keep), np.flatnonzero(test), blocks, (fold,)),
        )
    return splits


def cpcv(
    start_pos: np.ndarray,
    end_pos: np.ndarray,
    n_times: int,
    n_groups: int,
    n_test_groups: int,
    embargo: int,
) -> list[Split]:
    """Combinatorial purged cross-validation: every choice of ``n_test_groups`` of ``n_groups``."""
    if not 0 < n_test_groups < n_groups:
        raise ValueError(f"need 0 < test groups ({n_test_groups}) < groups ({n_groups})")
    bounds = block_bounds(n_times, n_groups)
    splits = []
    for chosen in combinations(range(n_groups), n_test_groups):
        blocks = tuple(bounds[g] for g in chosen)
        keep = keep_for_training(start_pos, end_pos, blocks, embargo)
        test = _in_blocks(start_pos, blocks)
        splits.append(Split(np.flatnonzero(keep), np.flatnonzero(test), blocks, chosen))
    return splits


def cpcv_paths(n_groups: int, n_test_groups: int) -> list[list[tuple[int, int]]]:
    """Backtest paths of CPCV: each path is one ``(split index, group)`` per group.

    Group ``g`` is tested by several splits; its j-th split (in order) belongs to path j. There
    are ``C(n_groups - 1, n_test_groups - 1)`` paths.
    """
    combos = list(combinations(range(n_groups), n_test_groups))
    per_group: dict[int, list[int]] = {g: [] for g in range(n_groups)}
    for index, chosen in enumerate(combos):
        for g in chosen:
            per_group[g].append(index)
    n_paths = comb(n_groups - 1, n_test_groups - 1)  # every group is tested this often
    return [[(per_group[g][j], g) for g in range(n_groups)] for j in range(n_paths)]


def inner_validation(
    train: np.ndarray, start_pos: np.ndarray, end_pos: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows into fit and early-stopping rows: the latest ``fraction`` of time.

    Fit rows whose label window reaches the validation block are purged.
    """
    times = np.unique(start_pos[train])
    cut = times[int(np.floor(len(times) * (1.0 - fraction)))]
    is_val = start_pos[train] >= cut
    fit = train[~is_val & (end_pos[train] < cut)]
    return fit, train[is_val]
