"""What each instrument is at a given time: lookups in the master, and rows for one-file imports.

* :func:`covered`: whether a reference row is valid at each bar (a bar without one is
  quarantined by validate: nothing says which calendar or currency it trades in).
* :func:`calendar_of`: each instrument's calendar, from the row valid at its latest bar.
* :func:`made_rows`: rows for instruments a source's master does not list, from the source's
  ``market``, ``calendar`` and ``currency`` params (``data.file.market: fx`` for one FX file).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipelines.data import calendars
from pipelines.data.params import MarketDefaults
from pipelines.data.reference import COLUMNS
from pipelines.errors import ConfigError

CRYPTO_QUOTES = ("USDT", "USDC", "BUSD", "USD", "EUR", "BTC", "ETH")
US_CALENDARS = ("XNYS", "XNAS", "CMES")


def _asof(rows: pd.DataFrame, instruments: np.ndarray, stamps: pd.Series) -> pd.DataFrame:
    """For each (instrument, time), the latest row starting at or before it (input order)."""
    left = pd.DataFrame(
        {
            "instrument": instruments.astype(str),
            "timestamp": pd.DatetimeIndex(stamps).as_unit("ns"),
            "pos": np.arange(len(stamps)),
        }
    ).sort_values("timestamp", kind="mergesort")
    right = pd.DataFrame(
        {
            "instrument": rows["instrument"].astype(str).to_numpy(),
            "valid_from": pd.DatetimeIndex(rows["valid_from"]).as_unit("ns"),
            "valid_to": pd.DatetimeIndex(rows["valid_to"]).as_unit("ns"),
            "calendar": rows["calendar"].to_numpy(),
        }
    ).sort_values("valid_from", kind="mergesort")
    joined = pd.merge_asof(
        left,
        right,
        left_on="timestamp",
        right_on="valid_from",
        by="instrument",
        direction="backward",
    )
    return joined.sort_values("pos").reset_index(drop=True)


def covered(rows: pd.DataFrame, instruments: pd.Series, stamps: pd.Series) -> np.ndarray:
    """True where a reference row is valid at the bar's time (one search per instrument)."""
    code, names = pd.factorize(instruments)
    times = pd.DatetimeIndex(stamps).as_unit("ns").asi8
    out = np.zeros(len(times), dtype=bool)
    ordered = rows.sort_values("valid_from", kind="mergesort")
    by_name = {str(k): g for k, g in ordered.groupby(ordered["instrument"].astype(str), sort=False)}
    order = np.argsort(code, kind="stable")
    bounds = np.searchsorted(code[order], np.arange(len(names) + 1))
    for k, name in enumerate(names):
        mine = by_name.get(str(name))
        if mine is None:
            continue
        at = order[bounds[k] : bounds[k + 1]]
        starts = pd.DatetimeIndex(mine["valid_from"]).as_unit("ns").asi8
        ends = pd.DatetimeIndex(mine["valid_to"]).as_unit("ns").asi8
        row = np.searchsorted(starts, times[at], side="right") - 1
        safe = np.maximum(row, 0)
        open_end = pd.isna(mine["valid_to"]).to_numpy()[safe]
        out[at] = (row >= 0) & (open_end | (times[at] < ends[safe]))
    return out


def calendar_of(rows: pd.DataFrame, last_bars: Mapping[str, pd.Timestamp]) -> dict[str, str]:
    """Each instrument's calendar: the row valid at its latest bar (none: left out)."""
    if not last_bars:
        return {}
    names = np.array(list(last_bars), dtype=object)
    stamps = pd.Series(pd.DatetimeIndex([pd.Timestamp(t) for t in last_bars.values()]))
    joined = _asof(rows, names, stamps)
    inside = joined["valid_from"].notna() & (
        joined["valid_to"].isna() | (joined["timestamp"] < joined["valid_to"])
    )
    return {
        str(n): str(c)
        for n, c, ok in zip(joined["instrument"], joined["calendar"], inside, strict=True)
        if ok
    }


def _currency(instrument: str, defaults: MarketDefaults, where: str) -> str:
    letters = "".join(ch for ch in instrument.upper() if ch.isalnum())
    if defaults.currency:
        return defaults.currency
    if defaults.market == "fx" and len(letters) == 6 and letters.isalpha():
        return letters[3:]
    if defaults.market == "crypto":
        for quote in CRYPTO_QUOTES:
            if letters.endswith(quote) and len(letters) > len(quote):
                return quote
    if defaults.market in ("equity", "future") and defaults.calendar in (None, *US_CALENDARS):
        return "USD"
    raise ConfigError(
        f"params.yaml: {where}.currency: needed to make a reference row for instrument "
        f"{instrument!r} ({where}.market is {defaults.market!r}; expected a code such as USD)"
    )


def made_rows(
    first_bars: Mapping[str, pd.Timestamp], defaults: MarketDefaults, where: str
) -> pd.DataFrame:
    """Reference rows for instruments no master lists, valid from their first bar's day.

    Args:
        first_bars: First bar of each instrument that needs a row.
        defaults: The source's ``market``, ``calendar`` and ``currency``.
        where: The params key of the source (``data.file``), for messages.

    Raises:
        ConfigError: A row cannot be made (no market, an unknown calendar, no currency).
    """
    if not first_bars:
        return pd.DataFrame(columns=COLUMNS)
    if defaults.market is None:
        return pd.DataFrame(columns=COLUMNS)
    calendar = defaults.calendar or calendars.DEFAULT_CALENDAR[defaults.market]
    if not calendars.known(calendar):
        raise ConfigError(
            f"params.yaml: {where}.calendar: unknown calendar {calendar!r} (expected an "
            "exchange_calendars name such as XNYS, or FX, 24/7)"
        )
    rows = pd.DataFrame(
        [
            {
                "instrument": name,
                "name": "",
                "asset_class": defaults.market,
                "calendar": calendar,
                "currency": _currency(name, defaults, where),
                "tick_size": np.nan,
                "valid_from": pd.Timestamp(first).tz_convert("UTC").normalize(),
                "valid_to": pd.NaT,
            }
            for name, first in sorted(first_bars.items())
        ],
        columns=COLUMNS,
    )
    rows["valid_to"] = pd.to_datetime(rows["valid_to"], utc=True)
    return rows
