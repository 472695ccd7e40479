"""Purging and embargo on constructed cases; CPCV combinatorics."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd

from pipelines.training import splits


def test_purge_drops_samples_whose_label_window_overlaps_the_test_block() -> None:
    # 20 bars, horizon 3: sample i's label window is [i, i + 3].
    start = np.arange(20)
    end = start + 3
    keep = splits.keep_for_training(start, end, ((10, 12),), embargo=0)
    # 7, 8, 9 reach into bar 10 (purged); 10..12 are the block; 13.. are after it.
    assert np.flatnonzero(~keep).tolist() == [7, 8, 9, 10, 11, 12]


def test_embargo_drops_samples_just_after_the_block() -> None:
    start = np.arange(20)
    end = start + 3
    keep = splits.keep_for_training(start, end, ((10, 12),), embargo=3)
    assert np.flatnonzero(~keep).tolist() == [7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert keep[16]


def test_walk_forward_trains_only_on_the_past_with_purged_labels() -> None:
    start = np.repeat(np.arange(60), 2)  # two instruments per bar
    end = start + 5
    folds = splits.walk_forward(start, end, 60, n_folds=3, embargo=5)
    assert len(folds) == 3
    for fold in folds:
        first, last = fold.blocks[0]
        assert end[fold.train].max() < first
        assert set(start[fold.test]) == set(range(first, last + 1))


def test_cpcv_splits_and_paths() -> None:
    start = np.arange(120)
    end = start + 5
    cv = splits.cpcv(start, end, 120, n_groups=6, n_test_groups=2, embargo=5)
    assert len(cv) == comb(6, 2)
    for split in cv:
        for first, last in split.blocks:
            s, e = start[split.train], end[split.train]
            assert not np.any((s <= last) & (e >= first))
            assert not np.any((s > last) & (s <= last + 5))
    paths = splits.cpcv_paths(6, 2)
    assert len(paths) == comb(5, 1)
    for path in paths:
        assert [g for _, g in path] == list(range(6))
        for split_index, group in path:
            assert group in cv[split_index].groups
    # Each (split, group) pair is used by exactly one path.
    pairs = [pair for path in paths for pair in path]
    assert len(pairs) == len(set(pairs)) == comb(6, 2) * 2


def test_inner_validation_is_later_and_purged() -> None:
    start = np.arange(100)
    end = start + 5
    fit, val = splits.inner_validation(np.arange(100), start, end, 0.2)
    assert start[val].min() == 80
    assert end[fit].max() < 80


def test_time_positions_map_label_end_onto_the_grid() -> None:
    stamps = pd.Series(pd.bdate_range("2020-01-01", periods=10, tz="UTC"))
    start, end, times = splits.time_positions(stamps[:7], stamps.shift(-3)[:7])
    assert start.tolist() == list(range(7))
    # Label ends after the last sample time map past the grid: they overlap nothing later.
    assert end.tolist() == [3, 4, 5, 6, 7, 7, 7]
    assert len(times) == 7
