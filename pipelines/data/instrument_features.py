"""Features from one instrument's own history: the kernels the offline and online paths share.

The strategy service imports this module and nothing of the offline feature pipeline
(:mod:`pipelines.data.features`: cross-sectional ranks, news events and, through them, the
trading calendars), so the service image needs only the ``serve`` lock.
Leakage: every value at bar t is a backward window ending at t (see :mod:`._windows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.data import _windows
from pipelines.data.params import FeatureParams


def per_instrument_feature_names(params: FeatureParams, has_ohlcv: bool = False) -> list[str]:
    """Names of the features computed from one instrument's own history, in output order."""
    names = [f"ret_{h}" for h in params.return_horizons]
    names += [f"vol_{w}" for w in params.volatility_windows]
    names += [f"mom_{w}" for w in params.momentum_windows]
    names += [f"zscore_{w}" for w in params.zscore_windows]
    names.append(f"rsi_{params.rsi_window}")
    if has_ohlcv:
        names += ["range_21", "volume_z_21"]
    return names


def has_ohlcv_columns(bars: pd.DataFrame) -> bool:
    """True when the bars carry high, low and volume (the OHLCV features then apply)."""
    return {"high", "low", "volume"}.issubset(bars.columns)


@dataclass(frozen=True)
class BarArrays:
    """Bars as float64 arrays: one instrument's, or several instruments' one after another.

    ``high``, ``low`` and ``volume`` are all set or all None (the OHLCV features need all three).
    """

    close: np.ndarray
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    volume: np.ndarray | None = None

    @classmethod
    def from_frame(cls, bars: pd.DataFrame) -> BarArrays:
        """The arrays of a bar frame (OHLCV only when it has high, low and volume)."""
        close = bars["close"].to_numpy(dtype="float64")
        if not has_ohlcv_columns(bars):
            return cls(close)
        return cls(
            close,
            bars["high"].to_numpy(dtype="float64"),
            bars["low"].to_numpy(dtype="float64"),
            bars["volume"].to_numpy(dtype="float64"),
        )


def instrument_feature_arrays(
    bars: BarArrays,
    params: FeatureParams,
    last: int | None = None,
    positions: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-instrument features of the last ``last`` bars (all bars when None), as arrays.

    The one implementation of the per-instrument features: offline it runs over every bar of
    every instrument at once, online over the service's buffer for its latest bar only. Each
    value is computed from its own window in a fixed order (see :mod:`._windows`), so it is
    bit-identical whichever rows are asked for and however long the history before them.

    Args:
        bars: The bars, oldest first.
        params: Feature windows.
        last: How many of the latest bars to compute features for.
        positions: For each of those bars, its index within its own instrument's history
            (several instruments one after another); None means a single instrument.

    Returns:
        Feature name to an array of ``last`` values, in :func:`per_instrument_feature_names`
        order; NaN where a window reaches before the instrument's first bar.
    """
    n = len(bars.close)
    rows = n if last is None else min(last, n)
    if positions is None:
        positions = np.arange(n - rows, n)
    high, low, volume = bars.high, bars.low, bars.volume
    ohlcv = high is not None and low is not None and volume is not None
    lookbacks = _windows.feature_lookbacks(params, ohlcv)
    span = max(lookbacks.values())
    log_close = _windows.padded(np.log(bars.close), span, rows)
    step = _windows.step(log_close)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for h in params.return_horizons:
            out[f"ret_{h}"] = _windows.lag(log_close, 0, rows) - _windows.lag(log_close, h, rows)
        for w in params.volatility_windows:
            out[f"vol_{w}"] = _windows.std(step, w, rows)
        for w in params.momentum_windows:
            # Skip the latest 5 bars: the classic momentum definition that avoids short reversal.
            skip = min(5, w - 1)
            out[f"mom_{w}"] = _windows.lag(log_close, skip, rows) - _windows.lag(log_close, w, rows)
        for w in params.zscore_windows:
            out[f"zscore_{w}"] = _windows.zscore(log_close, w, rows)
        rsi = params.rsi_window
        gain = _windows.mean(np.maximum(step, 0.0), rsi, rows)
        loss = _windows.mean(-np.minimum(step, 0.0), rsi, rows)
        total = gain + loss
        out[f"rsi_{rsi}"] = (gain / np.where(total == 0.0, np.nan, total)) * 100.0
        if high is not None and low is not None and volume is not None:
            spread = _windows.padded(np.log(high) - np.log(low), span, rows)
            out["range_21"] = _windows.mean(spread, 21, rows)
            log_volume = _windows.padded(np.log1p(volume), span, rows)
            out["volume_z_21"] = _windows.zscore(log_volume, 21, rows)
    for name, values in out.items():
        values[~np.isfinite(values) | (positions < lookbacks[name])] = np.nan
    return out


def instrument_features(bars: pd.DataFrame, params: FeatureParams) -> pd.DataFrame:
    """Per-instrument features of one instrument's bars, sorted by timestamp.

    The offline pipeline (:func:`compute_features`) and the strategy service (through
    :func:`latest_features`) both use :func:`instrument_feature_arrays`, so online and offline
    features come from the same code.

    Args:
        bars: One instrument's bars with ``timestamp`` and ``close`` (``high``, ``low``,
            ``volume`` optional), sorted ascending, unique timestamps.
        params: Feature windows.

    Returns:
        A frame aligned with ``bars`` holding only the feature columns.
    """
    return pd.DataFrame(
        instrument_feature_arrays(BarArrays.from_frame(bars), params), index=bars.index
    )


def latest_features(bars: BarArrays, params: FeatureParams) -> dict[str, float]:
    """Features of the latest bar only (the online path): name to value, NaN when unknown.

    Args:
        bars: One instrument's recent bars, oldest first; :func:`required_history` bars give
            every feature of the latest bar.
        params: Feature windows.

    Raises:
        ValueError: No bars at all.
    """
    if len(bars.close) == 0:
        raise ValueError("latest_features: no bars")
    arrays = instrument_feature_arrays(bars, params, last=1)
    return {name: float(values[0]) for name, values in arrays.items()}


def required_history(params: FeatureParams, ohlcv: bool) -> int:
    """Bars of history the latest bar's features need (the longest lookback plus the bar)."""
    return _windows.lookback(params, ohlcv) + 1
