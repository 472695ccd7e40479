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


def instrument_completeness(
    stamps: pd.Series, frequency: Frequency, max_gap_bars: int
) -> dict[str, Any]:
    """Completeness of one instrument's bars.

    Args:
        stamps: The instrument's bar timestamps (UTC).
        frequency: Bar frequency.
        max_gap_bars: Gaps longer than this many missing bars are listed.

    Returns:
        Expected and missing bar counts, the ratio present, and the long gaps (first
        ``MAX_LISTED_GAPS``, each with its first and last missing slot and length).
    """
    slots = pd.DatetimeIndex(bar_slot(stamps, frequency).unique()).sort_values()
    expected = expected_calendar(slots[0], slots[-1], frequency)
    missing_mask = ~expected.isin(slots)
    missing = expected[missing_mask]
    gaps: list[dict[str, Any]] = []
    long_gaps = 0
    if len(missing):
        positions = np.flatnonzero(missing_mask)
        breaks = np.flatnonzero(np.diff(positions) != 1) + 1
        for run in np.split(positions, breaks):
            if len(run) > max_gap_bars:
                long_gaps += 1
                if len(gaps) < MAX_LISTED_GAPS:
                    gaps.append(
                        {
                            "from": expected[run[0]].isoformat(),
                            "to": expected[run[-1]].isoformat(),
                            "missing_bars": len(run),
                        }
                    )
    total = len(expected)
    return {
        "expected_bars": total,
        "missing_bars": len(missing),
        "completeness": round(1.0 - len(missing) / total, 6) if total else 1.0,
        "long_gaps": long_gaps,
        "gaps": gaps,
    }
