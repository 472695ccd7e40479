"""Weight-based backtest (pure numpy, no I/O).

Time runs down the rows. ``weights[t]`` is the target weight decided at the close of bar t from
information up to t; it is traded at that close and earns the return of bar t + 1 (the position
applies from the next bar, so there is no lookahead). ``returns[t]`` is the simple return of bar
t, ``close[t] / close[t - 1] - 1``. Every bar the book is rebalanced from its drifted weights to
the target, so turnover is ``sum |target - drifted|`` and costs are ``cost * turnover`` of equity,
the way a target-percent order simulator charges them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BacktestResult:
    """Per-bar series of a backtest (one column per book when ``per_column``)."""

    returns: np.ndarray
    turnover: np.ndarray
    exposure: np.ndarray


def simulate(
    weights: np.ndarray,
    returns: np.ndarray,
    cost: float,
    per_column: bool = False,
    chunk_rows: int = 4096,
) -> BacktestResult:
    """Run the rebalancing backtest.

    Bars are processed in blocks of ``chunk_rows`` so that the temporaries stay in the CPU cache;
    the only link between bars is the previous target weight, so blocks are independent.

    Args:
        weights: ``(T, N)`` target weights (fractions of equity; NaN means flat).
        returns: ``(T, N)`` simple bar returns (NaN means no price: zero return).
        cost: Cost and slippage as a fraction of traded value (bps / 10,000).
        per_column: Treat each column as its own book (per-instrument results) instead of one
            portfolio whose weights sum across columns.
        chunk_rows: Bars per block.

    Returns:
        Net returns, turnover and gross exposure per bar, shape ``(T,)`` or ``(T, N)``.
    """
    w_all = np.asarray(weights, dtype="float64")
    r_all = np.asarray(returns, dtype="float64")
    shape = w_all.shape if per_column else w_all.shape[:1]
    net, turnover, exposure = np.empty(shape), np.empty(shape), np.empty(shape)
    for a in range(0, w_all.shape[0], chunk_rows):
        b = min(a + chunk_rows, w_all.shape[0])
        w = np.nan_to_num(w_all[a:b])
        held = np.empty_like(w)
        held[1:] = w[:-1]
        held[0] = np.nan_to_num(w_all[a - 1]) if a > 0 else 0.0
        r = np.nan_to_num(r_all[a:b])
        np.multiply(held, r, out=r)  # r now holds each book's return contribution
        gross = r if per_column else r.sum(axis=1, keepdims=True)
        grown = 1.0 + gross
        np.add(held, r, out=r)  # the held weights grown by their returns
        np.divide(r, np.where(grown == 0.0, 1.0, grown), out=r)  # drifted weights
        np.subtract(w, r, out=r)
        np.abs(r, out=r)
        traded = r if per_column else r.sum(axis=1, keepdims=True)
        np.abs(held, out=held)
        held_abs = held if per_column else held.sum(axis=1, keepdims=True)
        out_net = grown * (1.0 - cost * traded) - 1.0
        if per_column:
            net[a:b], turnover[a:b], exposure[a:b] = out_net, traded, held_abs
        else:
            net[a:b], turnover[a:b], exposure[a:b] = out_net[:, 0], traded[:, 0], held_abs[:, 0]
    return BacktestResult(net, turnover, exposure)


def bar_returns(bars: pd.DataFrame) -> pd.DataFrame:
    """Wide ``(timestamp x instrument)`` simple returns from long bars."""
    close = bars.pivot(index="timestamp", columns="instrument", values="close").sort_index()
    return close.pct_change(fill_method=None)


def to_wide(frame: pd.DataFrame, column: str, index: pd.Index, columns: pd.Index) -> np.ndarray:
    """Pivot a long ``(timestamp, instrument, column)`` frame onto a fixed grid (NaN elsewhere)."""
    wide = frame.pivot(index="timestamp", columns="instrument", values=column)
    return wide.reindex(index=index, columns=columns).to_numpy(dtype="float64")


def equal_weight_long(returns: np.ndarray) -> np.ndarray:
    """The naive baseline's weights: long every instrument with a price, equally weighted."""
    has_price = np.isfinite(np.asarray(returns, dtype="float64"))
    counts = has_price.sum(axis=1, keepdims=True)
    return np.where(has_price, 1.0 / np.maximum(counts, 1), 0.0)
