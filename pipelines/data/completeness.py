"""Pure completeness check: each instrument's bars against its own trading calendar.

Expected bars are the calendar's slots (see :mod:`pipelines.data.calendars`) between the
instrument's first and last bar: NYSE sessions and holidays for a US stock, five 24-hour
sessions a week for FX, every hour of the year for crypto. A bar outside the calendar (a
Saturday bar of a stock) is counted as ``off_calendar``, never as a missing one. Everything is
vectorised: one ``searchsorted`` of all bars of a calendar into its slots.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data import calendars
from pipelines.data.params import Frequency

MAX_LISTED_GAPS = 20


def _iso(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


def _gaps(
    expected: np.ndarray, first: np.ndarray, last: np.ndarray, missing: np.ndarray
) -> list[dict[str, Any]]:
    return [
        {"from": _iso(expected[a]), "to": _iso(expected[b - 1]), "missing_bars": int(n)}
        for a, b, n in zip(
            first[:MAX_LISTED_GAPS], last[:MAX_LISTED_GAPS], missing[:MAX_LISTED_GAPS], strict=True
        )
    ]


def _one_calendar(
    code: np.ndarray,
    slot: np.ndarray,
    names: np.ndarray,
    name: str,
    frequency: Frequency,
    max_gap_bars: int,
) -> dict[str, dict[str, Any]]:
    """Completeness of the instruments of one calendar; ``code, slot`` sorted and unique."""
    table = calendars.expected_slots(
        name, frequency, pd.Timestamp(int(slot.min())), pd.Timestamp(int(slot.max()))
    )
    expected = table.start
    left = np.searchsorted(expected, slot, side="left")
    right = np.searchsorted(expected, slot, side="right")
    present = right > left
    new = np.r_[True, code[1:] != code[:-1]]
    prev_right = np.r_[0, right[:-1]]
    missing = np.where(new, 0, np.maximum(left - prev_right, 0))
    starts = np.flatnonzero(new)
    n_present = np.add.reduceat(present.astype("int64"), starts)
    n_missing = np.add.reduceat(missing, starts)
    n_rows = np.diff(np.r_[starts, code.size])
    long = missing > max_gap_bars
    result: dict[str, dict[str, Any]] = {}
    for k, start in enumerate(starts):
        stop = start + n_rows[k]
        expected_bars = int(n_present[k] + n_missing[k])
        gaps = np.flatnonzero(long[start:stop]) + start
        result[str(names[code[start]])] = {
            "calendar": name,
            "expected_bars": expected_bars,
            "missing_bars": int(n_missing[k]),
            "off_calendar_bars": int(n_rows[k] - n_present[k]),
            "completeness": round(float(1.0 - n_missing[k] / expected_bars), 6)
            if expected_bars
            else 1.0,
            "long_gaps": int(gaps.size),
            "gaps": _gaps(expected, prev_right[gaps], left[gaps], missing[gaps]),
        }
    return result


def completeness_table(
    instruments: pd.Series,
    stamps: pd.Series,
    frequency: Frequency,
    max_gap_bars: int,
    calendar_of: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    """Completeness of every instrument, each in its own calendar.

    Args:
        instruments: Instrument of each bar.
        stamps: Timestamp of each bar (UTC).
        frequency: Bar frequency.
        max_gap_bars: Gaps longer than this many missing bars are listed.
        calendar_of: Calendar name of each instrument (from the reference data).

    Returns:
        Per instrument: calendar, expected, missing and off-calendar bar counts, the ratio
        present, the number of long gaps and the first ``MAX_LISTED_GAPS`` of them.
    """
    if len(instruments) == 0:
        return {}
    code, uniques = pd.factorize(instruments, sort=True)
    names = np.asarray(uniques, dtype=object).astype(str)
    slot = calendars.slot_of(stamps, frequency)
    order = np.lexsort((slot, code))
    code, slot = code[order], slot[order]
    keep = np.r_[True, (code[1:] != code[:-1]) | (slot[1:] != slot[:-1])]
    code, slot = code[keep], slot[keep]
    calendar = np.array([calendar_of.get(n, "") for n in names], dtype=object)[code]
    result: dict[str, dict[str, Any]] = {}
    for name in sorted(set(calendar) - {""}):
        mine = calendar == name
        result.update(_one_calendar(code[mine], slot[mine], names, name, frequency, max_gap_bars))
    return result


def count_expected(
    name: str, frequency: Frequency, after: pd.Timestamp, until: pd.Timestamp
) -> int:
    """Slots of calendar ``name`` that start after ``after`` and are complete by ``until``."""
    if until <= after:
        return 0
    table = calendars.expected_slots(name, frequency, after, until)
    first = np.searchsorted(table.start, after.as_unit("ns").value, side="right")
    ends = table.end[first:]
    return int(np.sum(ends <= until.as_unit("ns").value))


def slot_end(name: str, frequency: Frequency, stamp: pd.Timestamp) -> pd.Timestamp:
    """When the bar at ``stamp`` is complete: its slot's end (the close for a daily bar)."""
    slot = int(calendars.slot_of(pd.DatetimeIndex([stamp]), frequency)[0])
    table = calendars.expected_slots(name, frequency, stamp, stamp)
    at = int(np.searchsorted(table.start, slot, side="left"))
    if at < len(table) and table.start[at] == slot:
        return pd.Timestamp(int(table.end[at]), tz="UTC")
    return pd.Timestamp(slot + calendars.UNIT_NS[frequency], tz="UTC")
