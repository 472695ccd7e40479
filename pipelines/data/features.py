"""Leak-free features and the forward-return label (pure functions, no I/O).

A feature at bar t uses bars at or before t only: every per-instrument operation is a backward
rolling window or a backward shift within the instrument, and a cross-sectional rank at t uses
the other instruments' features at t only. ``tests/data/test_features_leakage.py`` proves it by
recomputing on data truncated at t.

The label is computed apart: the forward log return over ``horizon`` bars, its sign, and the
label end time (the timestamp of the bar that closes the label window), which purging needs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.data.params import FeatureParams, LabelParams

KEYS = ["timestamp", "instrument"]
LABEL_COLUMNS = ["fwd_return", "label_sign", "label_end"]
CROSS_SECTIONAL_PREFIX = "cs_rank_"


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


def feature_names(params: FeatureParams, has_ohlcv: bool = False) -> list[str]:
    """All feature names, per-instrument first, then cross-sectional ranks when enabled."""
    names = per_instrument_feature_names(params, has_ohlcv)
    if params.cross_sectional:
        names += [f"{CROSS_SECTIONAL_PREFIX}ret_{h}" for h in params.return_horizons]
    return names


def has_ohlcv_columns(bars: pd.DataFrame) -> bool:
    """True when the bars carry high, low and volume (the OHLCV features then apply)."""
    return {"high", "low", "volume"}.issubset(bars.columns)


def _log(values: pd.Series) -> pd.Series:
    return pd.Series(np.log(values.to_numpy(dtype="float64")), index=values.index)


def instrument_features(bars: pd.DataFrame, params: FeatureParams) -> pd.DataFrame:
    """Per-instrument features of one instrument's bars, sorted by timestamp.

    This is the function the strategy service calls online on its buffer of recent bars, so
    online and offline features come from the same code.

    Args:
        bars: One instrument's bars with ``timestamp`` and ``close`` (``high``, ``low``,
            ``volume`` optional), sorted ascending, unique timestamps.
        params: Feature windows.

    Returns:
        A frame aligned with ``bars`` holding only the feature columns.
    """
    close = bars["close"].astype("float64").to_numpy()
    log_close = pd.Series(np.log(close), index=bars.index)
    step = log_close.diff()
    out: dict[str, pd.Series] = {}
    for h in params.return_horizons:
        out[f"ret_{h}"] = log_close - log_close.shift(h)
    for w in params.volatility_windows:
        out[f"vol_{w}"] = step.rolling(w, min_periods=w).std()
    for w in params.momentum_windows:
        # Skip the latest 5 bars: the classic momentum definition that avoids short reversal.
        skip = min(5, w - 1)
        out[f"mom_{w}"] = log_close.shift(skip) - log_close.shift(w)
    for w in params.zscore_windows:
        mean = log_close.rolling(w, min_periods=w).mean()
        std = log_close.rolling(w, min_periods=w).std()
        out[f"zscore_{w}"] = (log_close - mean) / std.replace(0.0, np.nan)
    gain = step.clip(lower=0.0).rolling(params.rsi_window, min_periods=params.rsi_window).mean()
    loss = (-step.clip(upper=0.0)).rolling(params.rsi_window, min_periods=params.rsi_window).mean()
    total = gain + loss
    out[f"rsi_{params.rsi_window}"] = (gain / total.replace(0.0, np.nan)) * 100.0
    if has_ohlcv_columns(bars):
        high = _log(bars["high"])
        low = _log(bars["low"])
        out["range_21"] = (high - low).rolling(21, min_periods=21).mean()
        volume = pd.Series(np.log1p(bars["volume"].to_numpy(dtype="float64")), index=bars.index)
        vmean = volume.rolling(21, min_periods=21).mean()
        vstd = volume.rolling(21, min_periods=21).std()
        out["volume_z_21"] = (volume - vmean) / vstd.replace(0.0, np.nan)
    frame = pd.DataFrame(out, index=bars.index)
    return frame.replace([np.inf, -np.inf], np.nan)


def compute_features(bars: pd.DataFrame, params: FeatureParams) -> pd.DataFrame:
    """Features for every instrument in a long-format bar frame.

    Args:
        bars: Long format (``timestamp``, ``instrument``, ``close`` and optional OHLCV).
        params: Feature windows and switches.

    Returns:
        ``timestamp``, ``instrument`` and the feature columns, sorted by instrument then time.
    """
    ordered = bars.sort_values(["instrument", "timestamp"], kind="mergesort").reset_index(
        drop=True
    )
    parts = [
        instrument_features(group, params) for _, group in ordered.groupby("instrument", sort=False)
    ]
    per_instrument = pd.concat(parts) if parts else pd.DataFrame(index=ordered.index)
    result = pd.concat([ordered[KEYS], per_instrument.loc[ordered.index]], axis=1)
    if params.cross_sectional:
        by_time = result.groupby("timestamp", sort=False)
        for h in params.return_horizons:
            column = f"ret_{h}"
            result[f"{CROSS_SECTIONAL_PREFIX}{column}"] = by_time[column].rank(pct=True)
    names = feature_names(params, has_ohlcv_columns(bars))
    return result[KEYS + names]


def compute_labels(bars: pd.DataFrame, params: LabelParams) -> pd.DataFrame:
    """Forward log return over ``params.horizon`` bars, its sign and the label end time.

    Rows whose window runs past the last bar get no label (they are dropped).

    Args:
        bars: Long-format bars.
        params: Label horizon in bars.

    Returns:
        ``timestamp``, ``instrument``, ``fwd_return``, ``label_sign`` (1 up, 0 otherwise) and
        ``label_end``, sorted by instrument then time.
    """
    ordered = bars.sort_values(["instrument", "timestamp"], kind="mergesort").reset_index(
        drop=True
    )
    log_close = _log(ordered["close"])
    grouped_close = log_close.groupby(ordered["instrument"], sort=False)
    horizon = params.horizon
    fwd = grouped_close.shift(-horizon) - log_close
    end = ordered.groupby("instrument", sort=False)["timestamp"].shift(-horizon)
    labels = pd.DataFrame(
        {
            "timestamp": ordered["timestamp"],
            "instrument": ordered["instrument"],
            "fwd_return": fwd,
            "label_sign": (fwd > 0).astype("int8"),
            "label_end": end,
        }
    )
    return labels.dropna(subset=["fwd_return", "label_end"]).reset_index(drop=True)
