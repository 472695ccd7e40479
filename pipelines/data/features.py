"""Leak-free features and the forward-return label (pure functions, no I/O).

A feature at bar t uses bars at or before t only: every per-instrument operation is a backward
rolling window or a backward shift within the instrument, and a cross-sectional rank at t uses
the other instruments' features at t only. ``tests/data/test_features_leakage.py`` proves it by
recomputing on data truncated at t.

The label is computed apart: the forward log return over ``horizon`` bars, its sign, and the
label end time (the timestamp of the bar that closes the label window), which purging needs.

The per-instrument kernels live in :mod:`pipelines.data.instrument_features`, which the strategy
service shares; this module adds what only the offline pipeline computes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.data.event_features import EventInput, event_feature_arrays, event_feature_names
from pipelines.data.instrument_features import (
    BarArrays,
    has_ohlcv_columns,
    instrument_feature_arrays,
    per_instrument_feature_names,
)
from pipelines.data.params import FeatureParams, LabelParams

KEYS = ["timestamp", "instrument"]
LABEL_COLUMNS = ["fwd_return", "label_sign", "label_end"]
CROSS_SECTIONAL_PREFIX = "cs_rank_"


def feature_names(params: FeatureParams, has_ohlcv: bool = False) -> list[str]:
    """All feature names: per-instrument, cross-sectional ranks, then news events when enabled."""
    names = per_instrument_feature_names(params, has_ohlcv)
    if params.cross_sectional:
        names += [f"{CROSS_SECTIONAL_PREFIX}ret_{h}" for h in params.return_horizons]
    return names + event_feature_names(params.events)


def _log(values: pd.Series) -> pd.Series:
    return pd.Series(np.log(values.to_numpy(dtype="float64")), index=values.index)


def _positions(instruments: pd.Series) -> np.ndarray:
    """Index of each row within its instrument (rows grouped by instrument)."""
    index = np.arange(len(instruments))
    first = (instruments != instruments.shift()).to_numpy(dtype=bool, na_value=True)
    return index - np.maximum.accumulate(np.where(first, index, 0))


def compute_features(
    bars: pd.DataFrame, params: FeatureParams, events: EventInput | None = None
) -> pd.DataFrame:
    """Features for every instrument in a long-format bar frame.

    All instruments go through :func:`instrument_feature_arrays` in one pass (rows sorted by
    instrument then time, windows that would reach into the previous instrument masked).

    Args:
        bars: Long format (``timestamp``, ``instrument``, ``close`` and optional OHLCV).
        params: Feature windows and switches.
        events: News events and calendars, needed when ``params.events.enabled``.

    Raises:
        ValueError: Event features are enabled but no events were given.

    Returns:
        ``timestamp``, ``instrument`` and the feature columns, sorted by instrument then time.
    """
    ordered = bars.sort_values(["instrument", "timestamp"], kind="mergesort").reset_index(drop=True)
    positions = _positions(ordered["instrument"])
    arrays = instrument_feature_arrays(BarArrays.from_frame(ordered), params, positions=positions)
    result = pd.concat([ordered[KEYS], pd.DataFrame(arrays, index=ordered.index)], axis=1)
    if params.cross_sectional:
        columns = [f"ret_{h}" for h in params.return_horizons]
        ranks = result.groupby("timestamp", sort=False)[columns].rank(pct=True)
        for column in columns:
            result[f"{CROSS_SECTIONAL_PREFIX}{column}"] = ranks[column]
    if params.events.enabled:
        if events is None:
            raise ValueError("features.events.enabled is true but no events were given")
        news = event_feature_arrays(ordered, positions, events, params.events)
        result = pd.concat([result, pd.DataFrame(news, index=ordered.index)], axis=1)
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
    ordered = bars.sort_values(["instrument", "timestamp"], kind="mergesort").reset_index(drop=True)
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
