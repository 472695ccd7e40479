"""Test blocks cover the whole timeline; purge and embargo have exactly their widths.

A timestamp that no test block covers is never scored out of sample (the first and the last
bars were such timestamps in no test before); a purge one bar short leaks a label into
training; an invalid CPCV configuration trains on nothing.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations
from math import comb

import numpy as np
import pytest

from pipelines.training import splits


@pytest.mark.parametrize(("n_times", "n_blocks"), [(10, 3), (60, 7), (7, 7), (100, 6), (13, 4)])
def test_blocks_tile_the_timeline_from_first_to_last_timestamp(n_times: int, n_blocks: int) -> None:
    bounds = splits.block_bounds(n_times, n_blocks)
    assert len(bounds) == n_blocks
    assert bounds[0][0] == 0 and bounds[-1][1] == n_times - 1
    for (_, last), (first, _) in zip(bounds, bounds[1:], strict=False):
        assert first == last + 1  # contiguous: no gap, no overlap
    sizes = [last - first + 1 for first, last in bounds]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_block_bounds_by_hand_and_refusal() -> None:
    assert splits.block_bounds(10, 3) == [(0, 2), (3, 6), (7, 9)]
    assert splits.block_bounds(3, 3) == [(0, 0), (1, 1), (2, 2)]
    with pytest.raises(ValueError, match="cannot split 3 timestamps into 4 blocks"):
        splits.block_bounds(3, 4)


@pytest.mark.parametrize(("horizon", "embargo"), [(0, 0), (3, 0), (0, 4), (5, 2), (1, 1)])
def test_purge_and_embargo_widths_are_exact(horizon: int, embargo: int) -> None:
    start = np.arange(40)
    end = start + horizon
    first, last = 15, 22
    dropped = np.flatnonzero(~splits.keep_for_training(start, end, ((first, last),), embargo))
    # Purged: the `horizon` samples before the block; then the block; then `embargo` after it.
    assert dropped.tolist() == list(range(first - horizon, last + embargo + 1))


def test_purge_and_embargo_apply_to_every_block_of_a_split() -> None:
    start = np.arange(60)
    end = start + 3
    keep = splits.keep_for_training(start, end, ((10, 19), (40, 49)), embargo=2)
    dropped = np.flatnonzero(~keep).tolist()
    assert dropped == list(range(7, 22)) + list(range(37, 52))


def test_walk_forward_tests_every_block_after_the_first_up_to_the_last_timestamp() -> None:
    n = 50
    start = np.repeat(np.arange(n), 2)  # two instruments per bar
    end = start + 2
    folds = splits.walk_forward(start, end, n, n_folds=4, embargo=3)
    bounds = splits.block_bounds(n, 5)
    assert [f.blocks for f in folds] == [(b,) for b in bounds[1:]]
    assert [f.groups for f in folds] == [(1,), (2,), (3,), (4,)]
    tested = np.concatenate([f.test for f in folds])
    # Every row from the end of the first (training-only) block to the last bar, once.
    assert sorted(tested.tolist()) == np.flatnonzero(start >= bounds[1][0]).tolist()
    assert set(start[folds[-1].test]) >= {n - 1}
    for fold in folds:
        first, _ = fold.blocks[0]
        # Train: exactly the past whose label ends before the block (purged by the horizon).
        assert fold.train.tolist() == np.flatnonzero(end < first).tolist()


def test_walk_forward_never_trains_on_its_test_rows_whatever_the_label_ends_say() -> None:
    # Label ends come from the data; even ends that contradict the timestamps (before the
    # sample's own time) must not put a test row into training: train is strictly earlier.
    rng = np.random.default_rng(11)
    start = np.sort(rng.integers(0, 40, 300))
    end = rng.integers(0, 45, 300)
    for fold in splits.walk_forward(start, end, 40, n_folds=3, embargo=2):
        first, _ = fold.blocks[0]
        assert not set(fold.train) & set(fold.test)
        assert start[fold.train].max() < first


def test_cpcv_never_trains_on_its_test_rows_whatever_the_label_ends_say() -> None:
    rng = np.random.default_rng(12)
    start = np.sort(rng.integers(0, 40, 300))
    end = rng.integers(0, 45, 300)  # some label ends before their own start
    for split in splits.cpcv(start, end, 40, 5, 2, embargo=1):
        assert not set(split.train) & set(split.test)
    # A row starting on a block's last bar, its label end before the block: still not trained on.
    keep = splits.keep_for_training(np.array([9, 9]), np.array([2, 9]), ((5, 9),), embargo=0)
    assert keep.tolist() == [False, False]


@pytest.mark.parametrize(("n_groups", "n_test_groups"), [(6, 2), (5, 1), (4, 3)])
def test_cpcv_tests_every_timestamp_including_the_first_and_the_last(
    n_groups: int, n_test_groups: int
) -> None:
    n = 61
    start = np.arange(n)
    end = start + 2
    cv = splits.cpcv(start, end, n, n_groups, n_test_groups, embargo=1)
    assert len(cv) == comb(n_groups, n_test_groups)
    assert [s.groups for s in cv] == list(combinations(range(n_groups), n_test_groups))
    bounds = splits.block_bounds(n, n_groups)
    times_tested = np.zeros(n, dtype=int)
    for split in cv:
        assert split.blocks == tuple(bounds[g] for g in split.groups)
        in_blocks = np.zeros(n, dtype=bool)
        for first, last in split.blocks:
            in_blocks[first : last + 1] = True
        # The test rows are those of all the split's blocks, nothing else.
        assert split.test.tolist() == np.flatnonzero(in_blocks).tolist()
        assert not set(split.train) & set(split.test)
        times_tested[split.test] += 1
    # Each timestamp is tested by as many splits as its group: C(n_groups - 1, k - 1).
    assert times_tested.tolist() == [comb(n_groups - 1, n_test_groups - 1)] * n
    assert times_tested[0] > 0 and times_tested[-1] > 0


@pytest.mark.parametrize(("n_groups", "n_test_groups"), [(6, 0), (6, 6), (6, 7), (6, -1), (1, 1)])
def test_cpcv_refuses_invalid_group_counts(n_groups: int, n_test_groups: int) -> None:
    start = np.arange(30)
    with pytest.raises(ValueError, match=rf"need 0 < test groups \({n_test_groups}\) < groups"):
        splits.cpcv(start, start + 1, 30, n_groups, n_test_groups, embargo=0)


def test_cpcv_with_one_test_group_trains_on_the_rest() -> None:
    start = np.arange(30)
    cv = splits.cpcv(start, start, 30, 3, 1, embargo=0)
    assert [s.test.tolist() for s in cv] == [
        list(range(10)),
        list(range(10, 20)),
        list(range(20, 30)),
    ]
    assert cv[1].train.tolist() == list(range(10)) + list(range(20, 30))


def test_a_split_is_immutable() -> None:
    split = splits.Split(np.arange(2), np.arange(2, 4), ((2, 3),), (1,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.groups = (2,)  # type: ignore[misc]
