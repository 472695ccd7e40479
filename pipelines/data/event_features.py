"""News features joined point in time: as of publication plus the availability lag.

An event is *available* at ``published_at + availability_lag``. A bar's features are decided at
the bar's close (the backtest trades there), which the instrument's calendar gives: the
session's close for a daily bar, the end of the hour or minute (or the session's close, if
earlier) for an intraday one. An event therefore counts for the first bar whose close is at or
after its availability, and for later bars within a window, never for an earlier one: a
headline published at 22:00 UTC after a New York close counts from the next session, whatever
its calendar date. Pure functions, no I/O.

Features, for each window ``w`` of ``features.events.windows`` (in bars):
``news_count_w`` (events available during the last ``w`` bars) and ``news_sentiment_w`` (their
mean sentiment; NaN without events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.data.params import EventFeatureParams, Frequency


@dataclass(frozen=True)
class EventInput:
    """What the event features need besides the bars: the events and each bar's calendar."""

    events: pd.DataFrame
    calendar_of: Mapping[str, str]
    frequency: Frequency


def event_feature_names(params: EventFeatureParams) -> list[str]:
    """Names of the event features (none when disabled)."""
    if not params.enabled:
        return []
    return [f"news_{kind}_{w}" for w in params.windows for kind in ("count", "sentiment")]


def bar_closes(
    instruments: np.ndarray, stamps: pd.Series, calendar_of: Mapping[str, str], frequency: Frequency
) -> np.ndarray:
    """When each bar is complete (int64 ns UTC): its calendar slot's end.

    A bar off its calendar (or of an instrument without a calendar) closes one unit after its
    slot starts.
    """
    from pipelines.data import calendars  # lazily: the service imports this module too

    slot = calendars.slot_of(stamps, frequency)
    closes = slot + calendars.UNIT_NS[frequency]
    names = pd.Series(instruments).map(dict(calendar_of)).to_numpy(dtype=object)
    for name in sorted({n for n in names if isinstance(n, str)}):
        mine = names == name
        if not mine.any():
            continue
        table = calendars.expected_slots(
            name,
            frequency,
            pd.Timestamp(int(slot[mine].min())),
            pd.Timestamp(int(slot[mine].max())),
        )
        at = np.searchsorted(table.start, slot[mine], side="left")
        at_clipped = np.minimum(at, len(table) - 1)
        on = table.start[at_clipped] == slot[mine]
        closes[mine] = np.where(on, table.end[at_clipped], closes[mine])
    return closes


def event_feature_arrays(
    ordered: pd.DataFrame, positions: np.ndarray, inputs: EventInput, params: EventFeatureParams
) -> dict[str, np.ndarray]:
    """Event features of bars sorted by instrument then time.

    Args:
        ordered: Bars with ``timestamp`` and ``instrument``, sorted by instrument then time.
        positions: Index of each bar within its instrument's history.
        inputs: The events, calendars and frequency.
        params: Lag and windows.
    """
    names = ordered["instrument"].astype(str).to_numpy()
    closes = bar_closes(names, ordered["timestamp"], inputs.calendar_of, inputs.frequency)
    lag = pd.Timedelta(params.availability_lag)
    events = inputs.events[inputs.events["instrument"].astype(str).isin(set(names))]
    available = pd.DatetimeIndex(events["published_at"]).tz_convert("UTC") + lag
    left = pd.DataFrame(
        {
            "available": available.as_unit("ns").asi8,
            "instrument": events["instrument"].astype(str).to_numpy(),
            "sentiment": events["sentiment"].to_numpy(dtype="float64"),
        }
    ).sort_values("available", kind="mergesort")
    right = pd.DataFrame({"close": closes, "instrument": names, "row": np.arange(len(names))})
    right = right.sort_values("close", kind="mergesort")
    joined = pd.merge_asof(
        left, right, left_on="available", right_on="close", by="instrument", direction="forward"
    ).dropna(subset=["row"])
    rows = joined["row"].to_numpy(dtype="int64")
    count = np.bincount(rows, minlength=len(names)).astype("float64")
    total = np.bincount(rows, weights=joined["sentiment"].to_numpy(), minlength=len(names))
    group = pd.Series(names)
    cum_count = pd.Series(count).groupby(group, sort=False).cumsum().to_numpy()
    cum_total = pd.Series(total).groupby(group, sort=False).cumsum().to_numpy()
    out: dict[str, np.ndarray] = {}
    index = np.arange(len(names))
    for w in params.windows:
        back = index - w
        inside = positions >= w
        prior_count = np.where(inside, cum_count[np.maximum(back, 0)], 0.0)
        prior_total = np.where(inside, cum_total[np.maximum(back, 0)], 0.0)
        n = cum_count - prior_count
        out[f"news_count_{w}"] = n
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"news_sentiment_{w}"] = np.where(n > 0, (cum_total - prior_total) / n, np.nan)
    return {name: out[name] for name in event_feature_names(params)}


def available_by(bars: pd.DataFrame, inputs: EventInput, params: EventFeatureParams) -> EventInput:
    """The events available when the latest of ``bars`` closed (what a run then could see)."""
    names = bars["instrument"].astype(str).to_numpy()
    cutoff = int(bar_closes(names, bars["timestamp"], inputs.calendar_of, inputs.frequency).max())
    published = pd.DatetimeIndex(inputs.events["published_at"]).as_unit("ns").asi8
    lag = pd.Timedelta(params.availability_lag).value
    seen = inputs.events[published + lag <= cutoff]
    return EventInput(seen, inputs.calendar_of, inputs.frequency)
