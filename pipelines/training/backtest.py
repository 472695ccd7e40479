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
    weights: np.ndarray, returns: np.ndarray, cost: float, per_column: bool = False
) -> BacktestResult:
    """Run the rebalancing backtest.

    Args:
        weights: ``(T, N)`` target weights (fractions of equity; NaN means flat).
        returns: ``(T, N)`` simple bar returns (NaN means no price: zero return).
        cost: Cost and slippage as a fraction of traded value (bps / 10,000).
        per_column: Treat each column as its own book (per-instrument results) instead of one
            portfolio whose weights sum across columns.

    Returns:
        Net returns, turnover and gross exposure per bar, shape ``(T,)`` or ``(T, N)``.
    """
    w = np.nan_to_num(np.asarray(weights, dtype="float64"))
    r = np.nan_to_num(np.asarray(returns, dtype="float64"))
    held = np.empty_like(w)
    held[0] = 0.0
    held[1:] = w[:-1]
    contrib = held * r
    gross = contrib if per_column else contrib.sum(axis=1, keepdims=True)
    grown = 1.0 + gross
    drifted = held * (1.0 + r) / np.where(grown == 0.0, 1.0, grown)
    traded = np.abs(w - drifted)
    turnover = traded if per_column else traded.sum(axis=1, keepdims=True)
    net = grown * (1.0 - cost * turnover) - 1.0
    exposure = np.abs(held) if per_column else np.abs(held).sum(axis=1, keepdims=True)
    if not per_column:
        return BacktestResult(net[:, 0], turnover[:, 0], exposure[:, 0])
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
