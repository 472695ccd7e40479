"""The bar frequency, inferred from the timestamps of each instrument and checked.

The typical spacing of an instrument's bars is the median gap between consecutive bars: market
closes (nights, weekends, holidays) are long gaps but a minority, so the median is the bar.
Minute, hourly and daily bars are supported. Weekly and monthly bars are refused up front:
the feature windows, label horizon, purging and the minimum-data rule are all counted in bars,
and defaults made for daily bars (a 126-bar momentum is ten years of monthly bars) would give a
model that looks fine and means nothing; resample them to daily bars or keep them out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.errors import DataError

MIN_BARS = 10  # fewer bars say too little about their spacing: not judged
_HOUR = 3600.0
_DAY = 86_400.0
# (label, lowest and highest median spacing in seconds)
_BANDS = (
    ("minute", 30.0, 90.0),
    ("hourly", 0.75 * _HOUR, 1.5 * _HOUR),
    ("daily", 0.75 * _DAY, 4.0 * _DAY),
    ("weekly", 5.0 * _DAY, 9.0 * _DAY),
    ("monthly", 25.0 * _DAY, 35.0 * _DAY),
    ("quarterly", 80.0 * _DAY, 100.0 * _DAY),
)
UNSUPPORTED = ("weekly", "monthly", "quarterly")


def label(seconds: float) -> str:
    """The frequency a median spacing stands for, or ``irregular``."""
    for name, low, high in _BANDS:
        if low <= seconds <= high:
            return name
    return "irregular"


def spacing_text(seconds: float) -> str:
    """A median spacing in words: ``1 day``, ``30.4 days``, ``1 hour``, ``15 minutes``."""
    for unit, size in (("day", _DAY), ("hour", _HOUR), ("minute", 60.0), ("second", 1.0)):
        if seconds >= size:
            value = seconds / size
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}{'' if text == '1' else 's'}"
    return f"{seconds:g} seconds"


def infer(instruments: pd.Series, stamps: pd.Series) -> pd.DataFrame:
    """Median spacing and inferred frequency per instrument (instruments with few bars left out).

    Returns:
        Indexed by instrument: ``bars``, ``median_seconds`` and ``frequency``.
    """
    if len(instruments) == 0:
        return pd.DataFrame({"bars": [], "median_seconds": [], "frequency": []})
    code, names = pd.factorize(instruments, sort=True)
    ns = pd.DatetimeIndex(stamps).as_unit("ns").asi8
    order = np.lexsort((ns, code))
    code, ns = code[order], ns[order]
    keep = np.r_[True, (code[1:] != code[:-1]) | (ns[1:] != ns[:-1])]
    code, ns = code[keep], ns[keep]
    same = np.r_[False, code[1:] == code[:-1]]
    gap = np.where(same, np.r_[0, np.diff(ns)] / 1e9, np.nan)
    stats = (
        pd.DataFrame({"code": code, "gap": gap})
        .groupby("code", sort=True)
        .agg(bars=("gap", "size"), median_seconds=("gap", "median"))
    )
    labels = np.asarray(names, dtype=object)[stats.index.to_numpy()].astype(str)
    stats.index = pd.Index(labels, name="instrument")
    stats = stats[stats["bars"] >= MIN_BARS]
    stats["frequency"] = [label(float(s)) for s in stats["median_seconds"].to_numpy()]
    return stats


def check(instruments: pd.Series, stamps: pd.Series, declared: str, name: str) -> pd.DataFrame:
    """Refuse bars whose inferred frequency is not the declared one, in one line.

    Args:
        instruments: Instrument of each bar.
        stamps: Timestamp of each bar.
        declared: ``data.frequency``.
        name: The input, named in the message.

    Returns:
        The per-instrument inference (see :func:`infer`).

    Raises:
        DataError: Naming the first instrument off, both frequencies and its median spacing.
    """
    stats = infer(instruments, stamps)
    wrong = stats[stats["frequency"] != declared]
    if wrong.empty:
        return stats
    first = str(wrong.index[0])
    found = str(wrong.iloc[0]["frequency"])
    spacing = spacing_text(float(wrong.iloc[0]["median_seconds"]))
    hint = (
        f"{found} bars are not supported (daily, hourly or minute bars only)"
        if found in UNSUPPORTED
        else "set data.frequency to match, or fix the timestamps"
    )
    others = f" and {len(wrong) - 1} more instrument(s)" if len(wrong) > 1 else ""
    raise DataError(
        f"{name}: instrument {first}{others}: bars are {found} (median spacing {spacing}) but "
        f"data.frequency is {declared}; {hint}"
    )


def counts(stats: pd.DataFrame) -> dict[str, int]:
    """How many instruments were inferred at each frequency (for the report)."""
    values, number = np.unique(stats["frequency"].to_numpy(dtype=str), return_counts=True)
    return {str(v): int(n) for v, n in zip(values, number, strict=True)}
