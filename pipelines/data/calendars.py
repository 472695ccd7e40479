"""Trading calendars from ``exchange_calendars``: expected bar slots and the trading year.

Every count that depends on when a market trades (expected bars, completeness, gaps,
freshness, annualisation) is made in the instrument's own sessions, from one maintained
library: exchange sessions and holidays for equities (``XNYS``, ``XNAS``, ...) and futures
(``CMES``, ...), ``24/7`` for crypto, and ``FX`` for currencies: five sessions a week, each
from 17:00 New York on the previous day to 17:00 New York (Sunday evening to Friday evening,
daylight saving time followed), the convention of the interbank market.

A bar's *slot* is its timestamp floored to the frequency's unit in UTC (a day, an hour, a
minute). The expected slots of a session are the units its trading minutes touch: for daily
bars the session's date, for hourly bars on ``XNYS`` 14:30-21:00 UTC the seven hours 14..20.
Each slot ends at the earlier of its unit's end and its session's close (for daily bars: the
session's close), which is when the bar is complete.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import numpy as np
import pandas as pd

from pipelines.data.params import Frequency
from pipelines.errors import DataError
from pipelines.io import atomic

FX = "FX"
DEFAULT_CALENDAR = {"equity": "XNYS", "future": "CMES", "fx": FX, "crypto": "24/7"}
UNIT = {"daily": "D", "hourly": "h", "minute": "min"}
UNIT_NS = {"daily": 86_400 * 10**9, "hourly": 3_600 * 10**9, "minute": 60 * 10**9}
YEARS_FOR_ANNUALISATION = 10


class ForexCalendar(xc.ExchangeCalendar):
    """Spot FX: Monday to Friday sessions from 17:00 New York the day before to 17:00."""

    name = FX
    tz = ZoneInfo("America/New_York")
    open_times = ((None, datetime.time(17)),)
    close_times = ((None, datetime.time(17)),)
    open_offset = -1


xc.register_calendar_type(FX, ForexCalendar, force=True)


def known(name: str) -> bool:
    """True when ``exchange_calendars`` (or this module) defines the calendar."""
    return name in _names()


@lru_cache(maxsize=1)
def _names() -> frozenset[str]:
    return frozenset(xc.get_calendar_names(include_aliases=True))


def _cache_folder() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "trading-pipelines" / "calendars" / xc.__version__


@lru_cache(maxsize=64)
def _table(name: str, first_year: int, last_year: int) -> pd.DataFrame:
    """Sessions of whole years with their open and close (UTC), from a disk cache if there.

    Building a calendar costs about 0.2 s (holiday rules over decades); the table it gives is
    cached per library version, calendar and years, so each stage does not pay it again.
    """
    if not known(name):
        raise DataError(f"calendar {name!r}: unknown (expected an exchange_calendars name)")
    file = _cache_folder() / f"{name.replace('/', '_')}-{first_year}-{last_year}.parquet"
    try:
        return pd.read_parquet(file)
    except (OSError, ValueError):
        pass
    cal = xc.get_calendar(name, start=f"{first_year}-01-01", end=f"{last_year}-12-31")
    table = cal.schedule[["open", "close"]]
    with contextlib.suppress(OSError):  # a read-only home: no cache, the same answer
        atomic.write_with(file, lambda tmp: table.to_parquet(tmp))
    return table


def schedule(name: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Sessions whose date lies in [start - 7 days, end + 7 days]: ``open``, ``close`` (UTC)."""
    first = (start - pd.Timedelta(days=7)).tz_localize(None) if start.tzinfo else start
    last = (end + pd.Timedelta(days=7)).tz_localize(None) if end.tzinfo else end
    # Whole years, so that every run over nearby spans shares one cached table.
    frame = _table(name, int(first.year), int(last.year))
    return frame.loc[first.normalize() : last.normalize()]


@dataclass(frozen=True)
class Slots:
    """Expected bar slots of one calendar, sorted: start, end and session (int64 ns, UTC)."""

    start: np.ndarray
    end: np.ndarray
    session: np.ndarray

    def __len__(self) -> int:
        return int(self.start.size)


def _ns(values: Any) -> np.ndarray:
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return np.asarray(index.as_unit("ns").asi8, dtype="int64")


@lru_cache(maxsize=64)
def _slots(name: str, frequency: Frequency, first_year: int, last_year: int) -> Slots:
    sched = schedule(name, pd.Timestamp(f"{first_year}-01-08"), pd.Timestamp(f"{last_year}-12-24"))
    session = _ns(sched.index)
    opens, closes = _ns(sched["open"]), _ns(sched["close"])
    if frequency == "daily":
        return Slots(session, closes, session)
    unit = UNIT_NS[frequency]
    first = opens - opens % unit
    last = closes - 1 - (closes - 1) % unit
    counts = (last - first) // unit + 1
    owner = np.repeat(np.arange(session.size), counts)
    offsets = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    start = first[owner] + offsets * unit
    start, keep = np.unique(start, return_index=True)
    owner = owner[keep]
    end = np.minimum(start + unit, closes[owner])
    return Slots(start, end, session[owner])


def expected_slots(
    name: str, frequency: Frequency, start: pd.Timestamp, end: pd.Timestamp
) -> Slots:
    """Every expected slot of ``name`` around [start, end] (whole years, cached)."""
    return _slots(name, frequency, int(start.year) - 1, int(end.year) + 1)


def slot_of(stamps: pd.Series | pd.DatetimeIndex, frequency: Frequency) -> np.ndarray:
    """The slot of each timestamp (floored to the unit, UTC), as int64 ns."""
    values = _ns(stamps)
    return values - values % UNIT_NS[frequency]


def annualisation(names: list[str], frequency: Frequency, last: pd.Timestamp) -> dict[str, Any]:
    """Bars per year from the calendars: sessions per year x bars per session.

    Measured over the ``YEARS_FOR_ANNUALISATION`` whole years before the year of ``last``
    (the median year, so a year with an extra holiday does not move it). With several
    calendars the trading year is the union of their slots (the portfolio's time grid).

    Returns:
        ``bars_per_year``, ``sessions_per_year`` and ``bars_per_session`` (None for several
        calendars), the ``calendars``, the ``years`` measured and a one-line ``derivation``.
    """
    calendars = sorted(set(names))
    if not calendars:
        raise DataError("annualisation: no calendar (every instrument needs reference data)")
    years = list(range(int(last.year) - YEARS_FOR_ANNUALISATION, int(last.year)))
    span = (pd.Timestamp(f"{years[0]}-01-01"), pd.Timestamp(f"{years[-1]}-12-31"))
    tables: dict[bytes, Slots] = {}
    for name in calendars:  # calendars with the same sessions (XNYS, XNAS) count once
        table = expected_slots(name, frequency, *span)
        tables.setdefault(table.start.tobytes() + table.session.tobytes(), table)
    label = ", ".join(calendars)
    out: dict[str, Any] = {"calendars": calendars, "frequency": frequency}
    out["years"] = [years[0], years[-1]]
    if len(tables) == 1:
        table = next(iter(tables.values()))
        session_years = pd.DatetimeIndex(np.unique(table.session)).year
        per_session = np.unique(table.session, return_counts=True)[1]
        sessions = float(np.median([np.sum(session_years == y) for y in years]))
        bars = float(np.median(per_session))
        out |= {"sessions_per_year": sessions, "bars_per_session": bars}
        out["bars_per_year"] = sessions * bars
        label += " (the same sessions)" if len(calendars) > 1 else " calendar"
        out["derivation"] = (
            f"{label}: {sessions:g} sessions a year x {bars:g} {frequency} bar(s) a session "
            f"(medians over {years[0]}-{years[-1]})"
        )
        return out
    starts = np.unique(np.concatenate([t.start for t in tables.values()]))
    slot_years = pd.DatetimeIndex(starts).year
    per_year = float(np.median([np.sum(slot_years == y) for y in years]))
    out |= {"sessions_per_year": None, "bars_per_session": None, "bars_per_year": per_year}
    out["derivation"] = (
        f"union of the {label} calendars: {per_year:g} {frequency} bars a year (median over "
        f"{years[0]}-{years[-1]})"
    )
    return out
