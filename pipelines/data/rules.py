"""Pure validation rules: the schema (hard) and the row rules (quarantine).

Hard rules raise :class:`DataError` with one line. Row rules return, for every failing row, the
rule name and a readable reason; validate quarantines those rows and keeps the rest.

Integrity rules (a broken bar): ``unparseable`` (a cell or timestamp that did not parse, found
by the parser), ``missing_value``, ``non_finite``, ``nonpositive_price``, ``duplicate_bar``,
``ohlc_inconsistent``, ``negative_volume``, ``future_bar`` (after the run's clock plus one bar)
and ``no_reference`` (no instrument-master row valid at the bar). Anomaly rules (a suspicious bar):
``return_outlier`` (a spike in the robust z-score of the log return, median/MAD per
instrument) and ``stale_price`` (the repeats of a close repeated ``stale_run_length`` times or
more in a row).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.calendars import UNIT_NS, slot_of
from pipelines.data.params import Frequency, ValidationParams
from pipelines.data.sources.formats import PRICE_COLUMNS, REQUIRED, VALUE_COLUMNS
from pipelines.errors import DataError

INTEGRITY_RULES = (
    "unparseable",
    "missing_value",
    "non_finite",
    "nonpositive_price",
    "duplicate_bar",
    "ohlc_inconsistent",
    "negative_volume",
    "future_bar",
    "no_reference",
)
ANOMALY_RULES = ("return_outlier", "stale_price")
MAD_TO_SIGMA = 1.4826


def check_schema(bars: pd.DataFrame, name: str) -> None:
    """Hard schema rules: required columns and types, tz-aware UTC timestamps, not empty.

    Raises:
        DataError: One line naming the file and the column at fault.
    """
    missing = [c for c in REQUIRED if c not in bars.columns]
    if missing:
        found = ", ".join(map(str, bars.columns)) or "(none)"
        raise DataError(
            f"{name}: missing required column {missing[0]!r} (expected {', '.join(REQUIRED)}; "
            f"found: {found})"
        )
    if bars.empty:
        raise DataError(f"{name}: no rows (expected at least one bar)")
    stamp = bars["timestamp"].dtype
    if not isinstance(stamp, pd.DatetimeTZDtype) or str(stamp.tz) != "UTC":
        raise DataError(
            f"{name}: column timestamp: expected tz-aware UTC timestamps, got dtype {stamp}"
        )
    if not (
        pd.api.types.is_string_dtype(bars["instrument"].dtype) or bars["instrument"].dtype == object
    ):
        raise DataError(
            f"{name}: column instrument: expected text, got dtype {bars['instrument'].dtype}"
        )
    for column in VALUE_COLUMNS:
        dtype = bars[column].dtype if column in bars.columns else None
        if dtype is not None and not (
            pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
        ):
            raise DataError(f"{name}: column {column}: expected numbers, got dtype {dtype}")


def _flag(
    out: list[pd.DataFrame],
    mask: np.ndarray,
    rule: str,
    index: pd.Index,
    reason: Callable[[np.ndarray], Any],
) -> None:
    # Reasons are formatted for the flagged rows only: text for millions of rows is slow.
    if mask.any():
        text = np.asarray(reason(mask), dtype=object)
        out.append(pd.DataFrame({"rule": rule, "reason": text}, index=index[mask]))


def _text(values: pd.Series, mask: np.ndarray) -> np.ndarray:
    return values[mask].astype(str).to_numpy(dtype=object)


def _constant(text: str) -> Callable[[np.ndarray], Any]:
    def make(mask: np.ndarray) -> Any:
        return np.full(int(mask.sum()), text, dtype=object)

    return make


def _values(prefix: str, values: pd.Series, suffix: str) -> Callable[[np.ndarray], Any]:
    def make(mask: np.ndarray) -> Any:
        return prefix + _text(values, mask) + suffix

    return make


def integrity_failures(
    bars: pd.DataFrame,
    frequency: Frequency = "daily",
    now: pd.Timestamp | None = None,
    covered: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows that break a bar's integrity, indexed like ``bars``, with ``rule`` and ``reason``.

    Args:
        bars: Long-format bars.
        frequency: Bar frequency (duplicate slots, the future-bar margin).
        now: The run's clock; bars after it plus one bar are ``future_bar`` (None: no check).
        covered: Whether a reference row is valid at each bar (None: no check).
    """
    out: list[pd.DataFrame] = []
    prices = [c for c in PRICE_COLUMNS if c in bars.columns]
    # open/high/low/volume are optional: an empty one is "not present", not a broken bar.
    _flag(
        out,
        bars["close"].isna().to_numpy(),
        "missing_value",
        bars.index,
        _constant("close is missing"),
    )
    for column in [c for c in VALUE_COLUMNS if c in bars.columns]:
        values = bars[column]
        _flag(
            out,
            np.isinf(values.to_numpy(dtype="float64")),
            "non_finite",
            bars.index,
            _values(f"{column} ", values, " is not a finite number"),
        )
    for column in prices:
        values = bars[column]
        _flag(
            out,
            (values <= 0).to_numpy(),
            "nonpositive_price",
            bars.index,
            _values(f"{column} ", values, " <= 0"),
        )
    # A bar is one per instrument and slot of the frequency (day, hour, minute): two daily
    # bars stamped 00:00 and 21:00 of the same day are duplicates too.
    keyed = bars.assign(_slot=slot_of(bars["timestamp"], frequency))
    keys = ["instrument", "_slot"]
    dup_any = keyed.duplicated(keys, keep=False).to_numpy()
    if dup_any.any():
        present = ["timestamp"] + [c for c in VALUE_COLUMNS if c in bars.columns]
        exact_later = keyed.duplicated(keys + present, keep="first").to_numpy()
        groups = keyed.loc[dup_any].groupby(keys, observed=True)[present]
        variants = groups.nunique(dropna=False).max(axis=1)
        conflict_keys = variants[variants > 1].index
        in_conflict = pd.MultiIndex.from_frame(keyed[keys]).isin(conflict_keys)
        reason = np.where(
            in_conflict,
            f"same instrument and {frequency} slot as another row, with different values",
            f"same instrument and {frequency} slot as an earlier row",
        )
        _flag(
            out,
            dup_any & (exact_later | in_conflict),
            "duplicate_bar",
            bars.index,
            reason.__getitem__,
        )
    if {"high", "low"}.issubset(bars.columns):
        high, low = bars["high"], bars["low"]
        top = bars[[c for c in prices if c != "high"]].max(axis=1)
        bottom = bars[[c for c in prices if c != "low"]].min(axis=1)
        tol = 1e-9 * high.abs()
        bad = ((high < top - tol) | (low > bottom + tol)).to_numpy()
        _flag(
            out,
            bad,
            "ohlc_inconsistent",
            bars.index,
            lambda m: (
                "high " + _text(high, m) + " / low " + _text(low, m) + " do not bound the bar"
            ),
        )
    if "volume" in bars.columns:
        volume = bars["volume"]
        _flag(
            out,
            (volume < 0).to_numpy(),
            "negative_volume",
            bars.index,
            _values("volume ", volume, " < 0"),
        )
    if now is not None:
        limit = now + pd.Timedelta(UNIT_NS[frequency], unit="ns")
        _flag(
            out,
            (bars["timestamp"] > limit).to_numpy(),
            "future_bar",
            bars.index,
            _constant(f"after the run's clock {now.isoformat()} plus one {frequency} bar"),
        )
    if covered is not None:
        _flag(
            out,
            ~covered,
            "no_reference",
            bars.index,
            _constant(
                "no instrument-master row valid at this bar (add the instrument to the master, "
                "or set the source's market for a one-file import)"
            ),
        )
    return _combine(out)


def robust_z(bars: pd.DataFrame) -> pd.Series:
    """Robust z-score of each bar's log return within its instrument (median/MAD).

    ``bars`` must be sorted by instrument then time; the first bar of each instrument is NaN.
    """
    group = bars["instrument"]
    log_close = pd.Series(np.log(bars["close"].to_numpy(dtype="float64")), index=bars.index)
    ret = log_close.groupby(group, sort=False).diff()
    median = ret.groupby(group, sort=False).transform("median")
    mad = (ret - median).abs().groupby(group, sort=False).transform("median")
    return (ret - median) / (MAD_TO_SIGMA * mad.replace(0.0, np.nan))


def anomaly_failures(bars: pd.DataFrame, params: ValidationParams) -> tuple[pd.DataFrame, int]:
    """Return spikes and stale prices among bars that passed the integrity rules.

    A ``return_outlier`` is a spike: the return into the bar and the return out of it are both
    beyond the robust z threshold, in opposite directions, and the second undoes at least half
    of the first (a bad print). A one-way jump of the same size is a genuine move far more
    often than an error (crashes, earnings), so it is only counted, not quarantined.

    Returns:
        The failing rows (``rule``, ``reason``) and the number of one-way jumps.
    """
    ordered = bars.sort_values(["instrument", "timestamp"], kind="mergesort")
    group = ordered["instrument"]
    z = robust_z(ordered)
    limit = params.robust_z_threshold
    beyond = (z.abs() > limit).fillna(False)
    log_close = pd.Series(np.log(ordered["close"].to_numpy(dtype="float64")), index=ordered.index)
    ret = log_close.groupby(group, sort=False).diff()
    next_ret = ret.groupby(group, sort=False).shift(-1)
    next_beyond = beyond.groupby(group, sort=False).shift(-1, fill_value=False).astype(bool)
    spike = (
        beyond
        & next_beyond
        & (np.sign(ret) == -np.sign(next_ret))
        & ((ret + next_ret).abs() <= 0.5 * ret.abs())
    )
    reverted = spike.groupby(group, sort=False).shift(1, fill_value=False).astype(bool)
    jumps = int((beyond & ~spike & ~reverted).sum())
    out: list[pd.DataFrame] = []
    _flag(
        out,
        spike.to_numpy(),
        "return_outlier",
        ordered.index,
        lambda m: "spike: robust z " + _text(z.round(1), m) + f" beyond {limit:g}, then reverted",
    )
    close = ordered["close"]
    same = close.eq(close.groupby(group, sort=False).shift(1))
    run_id = (~same).cumsum()
    run_length = run_id.map(run_id.value_counts())
    stale = (same & (run_length >= params.stale_run_length)).to_numpy()
    _flag(
        out,
        stale,
        "stale_price",
        ordered.index,
        _values("close unchanged for ", run_length, " bars"),
    )
    return _combine(out), jumps


def _combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({"rule": pd.Series(dtype=str), "reason": pd.Series(dtype=str)})
    flagged = pd.concat(parts)
    # One row, one record: the first rule that caught it (rules are checked in a fixed order).
    return flagged[~flagged.index.duplicated(keep="first")]


def non_monotonic(bars: pd.DataFrame) -> pd.Series:
    """Per instrument, how many rows (in input order) go back in time."""
    stamps = bars["timestamp"]
    running = stamps.groupby(bars["instrument"], sort=False).cummax()
    earlier = stamps < running.groupby(bars["instrument"], sort=False).shift(1)
    return earlier.groupby(bars["instrument"], sort=True).sum().astype(int)
