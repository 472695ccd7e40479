"""Backward-window kernels of the per-instrument features (pure numpy, no I/O).

Every kernel computes the values of the last ``rows`` entries of an array, each from its own
window, adding the window's values oldest first. That order does not depend on how many rows are
asked for or how much history precedes them, so the offline pass over all bars and the online
call for the latest bar give bit-identical values. Nothing loops over rows in Python.

A window that holds one repeated value has exactly that mean and a standard deviation of
exactly 0 (as pandas' rolling windows give), not a rounding residue.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pipelines.data.params import FeatureParams

OHLCV_WINDOW = 21
# Above this many window values, sum offset by offset (no window-sized temporaries).
_BLOCK = 1 << 14


def feature_lookbacks(params: FeatureParams, ohlcv: bool) -> dict[str, int]:
    """Bars before the current one that each per-instrument feature reads."""
    out = {f"ret_{h}": h for h in params.return_horizons}
    out |= {f"vol_{w}": w for w in params.volatility_windows}
    out |= {f"mom_{w}": w for w in params.momentum_windows}
    out |= {f"zscore_{w}": w - 1 for w in params.zscore_windows}
    out[f"rsi_{params.rsi_window}"] = params.rsi_window
    if ohlcv:
        out |= {"range_21": OHLCV_WINDOW - 1, "volume_z_21": OHLCV_WINDOW - 1}
    return out


def lookback(params: FeatureParams, ohlcv: bool) -> int:
    """The longest lookback of all features."""
    return max(feature_lookbacks(params, ohlcv).values())


def padded(values: np.ndarray, span: int, rows: int) -> np.ndarray:
    """The last ``rows + span`` values, NaN-padded in front when there are fewer."""
    need = rows + span
    if len(values) >= need:
        return values[len(values) - need :]
    return np.concatenate([np.full(need - len(values), np.nan), values])


def lag(values: np.ndarray, by: int, rows: int) -> np.ndarray:
    """For each of the last ``rows`` positions r, the value at r - ``by`` (a view)."""
    start = len(values) - rows - by
    if start < 0:
        raise ValueError(f"lag {by} over {rows} rows needs {rows + by} values, got {len(values)}")
    return values[start : start + rows]


def step(values: np.ndarray) -> np.ndarray:
    """One-bar differences, NaN for the first value."""
    out = np.empty_like(values)
    out[:1] = np.nan
    np.subtract(values[1:], values[:-1], out=out[1:])
    return out


def constant(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    """True where the window ending at each of the last ``rows`` positions holds one value."""
    seg = values[len(values) - rows - window + 1 :]
    if rows == 1:  # the online call: same answer (NaN is never equal), fewer operations
        return np.array([np.minimum.reduce(seg) == np.maximum.reduce(seg)])
    index = np.arange(len(seg))
    new_run = np.ones(len(seg), dtype=bool)
    new_run[1:] = seg[1:] != seg[:-1]
    run_start = np.maximum.accumulate(np.where(new_run, index, 0))
    return np.asarray((index - run_start + 1)[window - 1 :] >= window)


def _window_sums(
    values: np.ndarray, window: int, rows: int, centre: np.ndarray | None = None
) -> np.ndarray:
    """Sum of each window (of squared gaps to ``centre`` when given), added oldest first.

    Small inputs (the online call) go through one ``np.add.accumulate``, which adds strictly in
    sequence (unlike ``sum``, whose pairwise order depends on the array's shape); large ones
    (offline) add one window offset at a time in place. Both perform the same additions in the
    same order, so each row's result does not depend on ``rows``.
    """
    base = len(values) - rows - window + 1
    if base < 0:
        raise ValueError(f"a window of {window} over {rows} rows needs more values")
    if rows * window <= _BLOCK:
        if rows == 1:  # the online call: the window itself, as a column
            block = values[base : base + window, None]
        else:
            block = sliding_window_view(values[base : base + rows + window - 1], rows)
        if centre is not None:
            block = block - centre
            block = block * block
        return np.asarray(np.add.accumulate(block, axis=0)[-1])
    gap = np.empty(rows)
    total = np.empty(rows)
    for offset in range(window):
        term = values[base + offset : base + offset + rows]
        if centre is not None:
            np.subtract(term, centre, out=gap)
            term = np.multiply(gap, gap, out=gap)
        if offset == 0:
            total[:] = term
        else:
            total += term
    return total


def _mean(values: np.ndarray, window: int, rows: int, same: np.ndarray) -> np.ndarray:
    return np.where(same, lag(values, 0, rows), _window_sums(values, window, rows) / window)


def mean(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    """Mean over the ``window`` values ending at each of the last ``rows`` positions."""
    return _mean(values, window, rows, constant(values, window, rows))


def _std(
    values: np.ndarray, window: int, rows: int, same: np.ndarray, centre: np.ndarray
) -> np.ndarray:
    if window < 2:
        return np.full(rows, np.nan)
    squares = _window_sums(values, window, rows, centre)
    return np.where(same, 0.0, np.sqrt(squares / (window - 1)))


def std(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    """Sample standard deviation (ddof 1) over each window; NaN for a window of 1."""
    same = constant(values, window, rows)
    return _std(values, window, rows, same, _mean(values, window, rows, same))


def zscore(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    """(value - window mean) / window std; NaN where the std is 0."""
    same = constant(values, window, rows)
    centre = _mean(values, window, rows, same)
    spread = _std(values, window, rows, same, centre)
    centred = lag(values, 0, rows) - centre
    return centred / np.where(spread == 0.0, np.nan, spread)
