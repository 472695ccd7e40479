"""Pure completeness check: each instrument's bars against the calendar of its frequency.

Daily bars are expected on business days (Monday to Friday; exchange holidays therefore show
as short gaps, which is why only gaps longer than ``max_gap_bars`` are listed). Hourly and
minute bars are expected every hour or minute (24/7 markets such as crypto).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.params import Frequency

MAX_LISTED_GAPS = 20


def expected_calendar(start: pd.Timestamp, end: pd.Timestamp, frequency: Frequency) -> pd.Index:
    """Timestamps expected between ``start`` and ``end`` (inclusive) for the frequency."""
    if frequency == "daily":
        return pd.bdate_range(start.floor("D"), end.floor("D"), tz="UTC")
    step = "h" if frequency == "hourly" else "min"
    return pd.date_range(start.floor(step), end.floor(step), freq=step, tz="UTC")


def bar_slot(stamps: pd.Series, frequency: Frequency) -> pd.Series:
    """The calendar slot of each bar (its day, hour or minute)."""
    return stamps.dt.floor({"daily": "D", "hourly": "h", "minute": "min"}[frequency])


def _missing_between(
    prev: np.ndarray, cur: np.ndarray, frequency: Frequency
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Missing slots between consecutive bars, and the first and last missing slot."""
    if frequency == "daily":
        a = prev.astype("datetime64[D]")
        b = cur.astype("datetime64[D]")
        # busday_count counts business days in [a, b): a itself is a bar, so minus one.
        missing = np.maximum(np.busday_count(a, b) - np.is_busday(a).astype(int), 0)
        first = np.busday_offset(a, 0, roll="forward")
        first = np.where(np.is_busday(a), np.busday_offset(a, 1, roll="forward"), first)
        last = np.busday_offset(b, -1, roll="backward")
        return missing, first.astype("datetime64[ns]"), last.astype("datetime64[ns]")
    step = np.timedelta64(1, "h" if frequency == "hourly" else "m").astype("timedelta64[ns]")
    missing = np.maximum((cur - prev) // step - 1, 0)
    return missing.astype("int64"), prev + step, cur - step


def completeness_table(
    instruments: pd.Series, stamps: pd.Series, frequency: Frequency, max_gap_bars: int
) -> dict[str, dict[str, Any]]:
    """Completeness of every instrument at once (vectorised over all bars).

    Args:
        instruments: Instrument of each bar.
        stamps: Timestamp of each bar (UTC).
        frequency: Bar frequency.
        max_gap_bars: Gaps longer than this many missing bars are listed.

    Returns:
        Per instrument: expected and missing bar counts, the ratio present, the number of long
        gaps and the first ``MAX_LISTED_GAPS`` of them (first and last missing slot, length).
    """
    frame = pd.DataFrame(
        {
            "instrument": instruments.astype(str).to_numpy(),
            "slot": bar_slot(stamps, frequency).dt.tz_convert(None).to_numpy(),
        }
    ).drop_duplicates()
    frame = frame.sort_values(["instrument", "slot"], kind="mergesort").reset_index(drop=True)
    slot = frame["slot"].to_numpy()
    prev = frame.groupby("instrument", sort=False)["slot"].shift(1).to_numpy()
    has_prev = ~np.isnat(prev)
    missing = np.zeros(len(frame), dtype="int64")
    first = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
    last = first.copy()
    missing[has_prev], first[has_prev], last[has_prev] = _missing_between(
        prev[has_prev], slot[has_prev], frequency
    )
    on_calendar = np.is_busday(slot.astype("datetime64[D]")) if frequency == "daily" else True
    frame = frame.assign(missing=missing, on_calendar=on_calendar, first=first, last=last)
    totals = frame.groupby("instrument", sort=True)[["missing", "on_calendar"]].sum()
    long = frame[frame["missing"] > max_gap_bars]
    result: dict[str, dict[str, Any]] = {}
    for name, row in totals.iterrows():
        expected = int(row["on_calendar"] + row["missing"])
        result[str(name)] = {
            "expected_bars": expected,
            "missing_bars": int(row["missing"]),
            "completeness": round(1.0 - row["missing"] / expected, 6) if expected else 1.0,
            "long_gaps": 0,
            "gaps": [],
        }
    for name, group in long.groupby("instrument", sort=True):
        entry = result[str(name)]
        entry["long_gaps"] = len(group)
        entry["gaps"] = [
            {
                "from": pd.Timestamp(g_first, tz="UTC").isoformat(),
                "to": pd.Timestamp(g_last, tz="UTC").isoformat(),
                "missing_bars": int(g_missing),
            }
            for g_first, g_last, g_missing in group[["first", "last", "missing"]]
            .head(MAX_LISTED_GAPS)
            .itertuples(index=False)
        ]
    return result


def instrument_completeness(
    stamps: pd.Series, frequency: Frequency, max_gap_bars: int
) -> dict[str, Any]:
    """Completeness of one instrument's bars (see :func:`completeness_table`)."""
    names = pd.Series("x", index=stamps.index)
    return completeness_table(names, stamps, frequency, max_gap_bars)["x"]
