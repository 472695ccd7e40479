"""Parse raw bytes (CSV, gzip CSV, Parquet; long or wide) into the long bar format.

Pure: bytes in, bars and rejected rows out. A file that cannot be read at all (not UTF-8,
corrupt gzip or Parquet, no header, a required column missing, a layout that cannot be told
with certainty) is one :class:`DataError` line naming the file and what was expected. A row
that cannot be parsed (a timestamp or a number that does not parse, an infinite number, a blank
instrument) is rejected with its line (CSV, header = line 1) or row (Parquet) and the reason;
the rest of the file is kept. Ingest and ``validate --input`` both parse through here.

Long format: ``timestamp`` (tz-aware UTC), ``instrument`` (str), ``close`` and optional
``open``, ``high``, ``low``, ``volume`` (float64). Timestamps without an offset are read as UTC.
A wide file has a date column first and one close column per instrument; an empty cell there
means the instrument has no bar that day (it is not listed yet), so it is dropped, and a column
that is empty from top to bottom is reported as a rejected line. A file whose columns are only
field names (``Date, Open, High, Low, Close, Volume``) holds one instrument, named by the
``instrument`` argument or else by the file name up to its first ``_``, upper-cased; it needs a
``close`` column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipelines.data.sources.tables import is_parquet, read_table
from pipelines.errors import DataError

Layout = Literal["auto", "long", "wide"]
REQUIRED = ("timestamp", "instrument", "close")
PRICE_COLUMNS = ("open", "high", "low", "close")
OPTIONAL = ("open", "high", "low", "volume")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
_TIME_ALIASES = {"timestamp", "date", "datetime", "time", "ts", "", "unnamed: 0"}
_INSTRUMENT_ALIASES = {"instrument", "symbol", "ticker"}


REJECT_COLUMNS = ("file", "line", "instrument", "reason")
TIME_EXAMPLE = "a date/time such as 2024-01-31 or 2024-01-31T15:00:00Z"


@dataclass(frozen=True)
class Parsed:
    """Bars parsed from one input and the rows rejected on the way.

    Attributes:
        bars: Long-format bars in input order.
        rejects: ``file``, ``line`` (CSV line, header = 1; Parquet row, first = 1),
            ``instrument`` (empty when unknown) and ``reason`` of each rejected row or cell.
        lines: The line (or Parquet row) each bar came from, aligned with ``bars``.
    """

    bars: pd.DataFrame
    rejects: pd.DataFrame
    lines: np.ndarray


def empty_rejects() -> pd.DataFrame:
    """A rejects frame without rows."""
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "line" else object) for c in REJECT_COLUMNS}
    )


def _lines(positions: np.ndarray, parquet: bool) -> np.ndarray:
    return positions + (1 if parquet else 2)


def parse_timestamps(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a timestamp column to tz-aware UTC; also return the mask of cells that failed."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = values.dt.tz_localize("UTC")
    else:
        text = values.astype(str).str.strip()
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    return parsed, parsed.isna().to_numpy()


def parse_numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Convert a column to float64; empty cells become NaN.

    Returns:
        The numbers, the mask of cells that are not numbers, and the mask of infinite ones.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.astype("float64")
        bad = np.zeros(len(values), dtype=bool)
    else:
        text = values.astype(str).str.strip()
        empty = text.isin(["", "nan", "NaN", "NA", "null"]) | values.isna()
        numbers = pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")
        bad = (numbers.isna() & ~empty).to_numpy()
    return numbers, bad, np.isinf(numbers.to_numpy())


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    renamed: dict[str, str] = {}
    for column in frame.columns:
        key = str(column).strip().lower()
        if key in _TIME_ALIASES and "timestamp" not in renamed.values():
            renamed[column] = "timestamp"
        elif key in _INSTRUMENT_ALIASES and "instrument" not in renamed.values():
            renamed[column] = "instrument"
        elif key in VALUE_COLUMNS:
            renamed[column] = key
    return frame.rename(columns=renamed)


def detect_layout(
    name: str, frame: pd.DataFrame, shown: list[str] | None = None
) -> Literal["long", "single", "wide"]:
    """Tell long, single-instrument OHLCV and wide files apart from their canonical columns.

    Args:
        name: The file, for messages.
        frame: The table with canonical column names.
        shown: The file's own column names, for messages (default: the canonical ones).

    Raises:
        DataError: The columns fit no layout, or fit two (only field names, no close).
    """
    columns = [str(c) for c in frame.columns]
    if "instrument" in columns:
        return "long"
    rest = [c for c in columns[1:]] if columns and columns[0] == "timestamp" else []
    fields = [c for c in rest if c in VALUE_COLUMNS]
    if "timestamp" in columns and "close" in columns:
        return "single"
    if rest and len(fields) < len(rest):
        # A column that is no field name can only be an instrument: a wide file.
        return "wide"
    found = ", ".join(shown if shown is not None else columns) or "(none)"
    if fields:
        raise DataError(
            f"{name}: cannot tell the layout: columns {found} are field names without 'close' "
            "(a single-instrument file needs a close column; for a wide file whose tickers "
            "look like fields, set the source's layout: wide)"
        )
    raise DataError(
        f"{name}: missing required column 'timestamp' (expected {', '.join(REQUIRED)} for a "
        f"long file, or a date column first for a wide file; found: {found})"
    )


def default_instrument(name: str) -> str:
    """Instrument of a single-instrument file: its name up to the first ``_``, upper-cased."""
    stem = PurePosixPath(name).name.split(".")[0]
    return stem.split("_")[0].upper() or stem.upper()


def _rejects(name: str, lines: np.ndarray, instruments: Any, reasons: Any) -> pd.DataFrame:
    count = len(lines)
    return pd.DataFrame(
        {
            "file": np.full(count, name, dtype=object),
            "line": np.asarray(lines, dtype="int64"),
            "instrument": np.broadcast_to(np.asarray(instruments, dtype=object), (count,)),
            "reason": np.asarray(reasons, dtype=object),
        }
    )


def _cell_reasons(raw: pd.Series, bad: np.ndarray, inf: np.ndarray, column: str) -> np.ndarray:
    text = raw.astype(str).str.strip().to_numpy(dtype=object)
    return np.where(
        bad,
        f"column {column}: expected a number, got '" + text + "'",
        f"column {column}: expected a finite number, got '" + text + "'",
    )


def _wide(name: str, frame: pd.DataFrame, parquet: bool) -> Parsed:
    # Instruments keep their own names: a ticker such as LOW is not the low price.
    first = str(frame.columns[0]) or "(first column)"
    stamps, bad_time = parse_timestamps(frame.iloc[:, 0])
    lines = _lines(np.arange(len(frame)), parquet)
    parts = [
        _rejects(
            name,
            lines[bad_time],
            "",
            f"column {first}: expected {TIME_EXAMPLE}, got '"
            + frame.iloc[:, 0][bad_time].astype(str).to_numpy(dtype=object)
            + "'",
        )
    ]
    values = {}
    for position, column in enumerate(frame.columns[1:], start=1):
        raw = frame.iloc[:, position]
        numbers, bad, inf = parse_numbers(raw)
        wrong = (bad | inf) & ~bad_time
        parts.append(
            _rejects(
                name,
                lines[wrong],
                str(column),
                _cell_reasons(raw[wrong], bad[wrong], inf[wrong], str(column)),
            )
        )
        if numbers[~bad_time].isna().all() and not wrong.any():
            reason = f"column {column} is empty on every line: no bars for instrument {column}"
            parts.append(_rejects(name, np.array([1]), str(column), [reason]))
        values[str(column)] = numbers.where(~(bad | inf))
    wide = pd.DataFrame(values, index=frame.index)
    wide.insert(0, "timestamp", stamps)
    wide.insert(1, "_line", lines)
    wide = wide[~bad_time]
    long = wide.melt(id_vars=["timestamp", "_line"], var_name="instrument", value_name="close")
    long = long.dropna(subset=["close"])
    long["instrument"] = long["instrument"].astype(str)
    bars = long[["timestamp", "instrument", "close"]].reset_index(drop=True)
    rejects = pd.concat(parts, ignore_index=True).sort_values("line", kind="mergesort")
    return Parsed(bars, rejects.reset_index(drop=True), long["_line"].to_numpy(dtype="int64"))


def to_long(
    frame: pd.DataFrame,
    name: str,
    layout: Layout = "auto",
    instrument: str | None = None,
    parquet: bool = False,
) -> Parsed:
    """Normalise a raw table (long, single-instrument or wide) to long bars and rejects.

    Args:
        frame: The table as read, all cells as text for CSV.
        name: File name used in messages.
        layout: ``auto`` to detect, or force ``long`` / ``wide``.
        instrument: Name for a single-instrument file (default: from the file name).
        parquet: Whether positions are Parquet rows (else CSV lines, header = line 1).

    Raises:
        DataError: The file as a whole cannot be read as bars (see the module docstring).
    """
    canon = _canonical(frame)
    shown = [str(c) for c in frame.columns]
    kind = detect_layout(name, canon, shown) if layout == "auto" else layout
    if kind == "wide":
        if frame.shape[1] < 2:
            raise DataError(f"{name}: a wide file needs a date column and instrument columns")
        return _wide(name, frame, parquet)
    if kind == "single" or (layout == "long" and "instrument" not in canon.columns and instrument):
        canon = canon.assign(instrument=instrument or default_instrument(name))
    absent = [c for c in REQUIRED if c not in canon.columns]
    if absent:
        found = ", ".join(str(c) for c in frame.columns) or "(none)"
        raise DataError(
            f"{name}: missing required column {absent[0]!r} (expected {', '.join(REQUIRED)} "
            f"for a long file, or a date column first for a wide file; found: {found})"
        )
    stamps, bad_time = parse_timestamps(canon["timestamp"])
    names = canon["instrument"].astype(str).str.strip()
    out = pd.DataFrame({"timestamp": stamps, "instrument": names})
    reasons = np.full(len(canon), "", dtype=object)
    blank = (names == "").to_numpy()
    reasons[blank] = "column instrument: expected a name, got ''"
    raw_time = canon["timestamp"][bad_time].astype(str).str.strip().to_numpy(dtype=object)
    reasons[bad_time] = f"column timestamp: expected {TIME_EXAMPLE}, got '" + raw_time + "'"
    for column in VALUE_COLUMNS:
        if column in canon.columns:
            numbers, bad, inf = parse_numbers(canon[column])
            out[column] = numbers
            wrong = (bad | inf) & (reasons == "")
            reasons[wrong] = _cell_reasons(canon[column][wrong], bad[wrong], inf[wrong], column)
    rejected = reasons != ""
    lines = _lines(np.flatnonzero(rejected), parquet)
    rejects = _rejects(name, lines, names.to_numpy(dtype=object)[rejected], reasons[rejected])
    kept = np.flatnonzero(~rejected)
    return Parsed(out[~rejected].reset_index(drop=True), rejects, _lines(kept, parquet))


def parse_table(
    name: str, data: bytes, layout: Layout = "auto", instrument: str | None = None
) -> Parsed:
    """Parse one raw file's bytes into long-format bars and the rows rejected.

    Args:
        name: The file's name (its suffix picks Parquet vs CSV; gzip is detected by content).
        data: The raw bytes, exactly as archived.
        layout: ``auto``, ``long`` or ``wide``.
        instrument: Name for a single-instrument OHLCV file.

    Raises:
        DataError: One line naming the file and what was expected.
    """
    if not data:
        raise DataError(f"{name}: empty file (expected a header line and at least one bar)")
    frame = read_table(name, data)
    if frame.empty:
        raise DataError(f"{name}: no rows (expected at least one bar)")
    return to_long(frame, name, layout, instrument, parquet=is_parquet(name, data))
