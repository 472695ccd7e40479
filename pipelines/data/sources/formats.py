"""Parse raw bytes (CSV, gzip CSV, Parquet; long or wide) into the long bar format.

Pure: bytes in, a frame out. Every hard failure is one :class:`DataError` line naming the file,
the line or column and what was expected.

Long format: ``timestamp`` (tz-aware UTC), ``instrument`` (str), ``close`` and optional
``open``, ``high``, ``low``, ``volume`` (float64). Timestamps without an offset are read as UTC.
A wide file has a date column first and one close column per instrument; an empty cell there
means the instrument has no bar that day (it is not listed yet), so it is dropped. A file with a
date column and OHLCV columns but no instrument column holds one instrument, named by the
``instrument`` argument or else by the file name up to its first ``_``, upper-cased.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import PurePosixPath
from typing import Literal

import numpy as np
import pandas as pd

from pipelines.errors import DataError

Layout = Literal["auto", "long", "wide"]
REQUIRED = ("timestamp", "instrument", "close")
PRICE_COLUMNS = ("open", "high", "low", "close")
OPTIONAL = ("open", "high", "low", "volume")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
_TIME_ALIASES = {"timestamp", "date", "datetime", "time", "ts", "", "unnamed: 0"}
_INSTRUMENT_ALIASES = {"instrument", "symbol", "ticker"}


def _decompress(name: str, data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error):
        raise DataError(
            f"{name}: truncated or corrupt gzip stream (expected a complete .gz file)"
        ) from None


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{name}: line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}; expected UTF-8 CSV)"
        ) from None


def is_parquet(name: str, data: bytes) -> bool:
    """True for Parquet input (by suffix or magic bytes)."""
    return PurePosixPath(name).suffix.lower() in {".parquet", ".pq"} or data[:4] == b"PAR1"


def read_table(name: str, data: bytes) -> pd.DataFrame:
    """Read CSV (gzip or not, UTF-8) or Parquet bytes as a raw table, text cells for CSV."""
    if is_parquet(name, data):
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several unrelated types
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{name}: not a readable Parquet file ({reason})") from None
    text = _decode(name, _decompress(name, data))
    if not text.strip():
        raise DataError(f"{name}: empty file (expected a header line and at least one bar)")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise DataError(f"{name}: not a readable CSV file ({str(exc).strip()})") from None
    if frame.empty:
        raise DataError(f"{name}: no bars after the header line (expected at least one row)")
    return frame


def _line(position: int, parquet: bool) -> str:
    return f"row {position + 1}" if parquet else f"line {position + 2}"


def parse_timestamps(values: pd.Series, name: str, column: str, parquet: bool) -> pd.Series:
    """Parse a timestamp column to tz-aware UTC, naming the first value that does not parse."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC")
    text = values.astype(str).str.strip()
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name}: {_line(first, parquet)} column {column}: expected a "
            f"date/time such as 2024-01-31 or 2024-01-31T15:00:00Z, got {text.iloc[first]!r}"
        )
    return parsed


def parse_numbers(values: pd.Series, name: str, column: str, parquet: bool) -> pd.Series:
    """Convert a column to float64; empty cells become NaN, any other non-number is an error."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    text = values.astype(str).str.strip()
    empty = text.isin(["", "nan", "NaN", "NA", "null"]) | values.isna()
    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = (numbers.isna() & ~empty).to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name}: {_line(first, parquet)} column {column}: expected a "
            f"number, got {text.iloc[first]!r}"
        )
    return numbers.astype("float64")


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


def detect_layout(frame: pd.DataFrame) -> Literal["long", "single", "wide"]:
    """Tell long, single-instrument OHLCV and wide files apart from their (canonical) columns."""
    columns = [str(c) for c in frame.columns]
    if "instrument" in columns:
        return "long"
    if "timestamp" in columns and "close" in columns:
        return "single"
    if columns and columns[0] == "timestamp" and len(columns) > 1:
        return "wide"
    return "long"


def layout_of(frame: pd.DataFrame) -> Literal["long", "single", "wide"]:
    """Layout of a raw table as read by :func:`read_table`."""
    return detect_layout(_canonical(frame))


def _missing(name: str, frame: pd.DataFrame, needed: tuple[str, ...]) -> None:
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        found = ", ".join(str(c) for c in frame.columns) or "(none)"
        raise DataError(
            f"{name}: missing required column {absent[0]!r} (expected {', '.join(needed)} for "
            f"a long file, or a date column first for a wide file; found: {found})"
        )


def default_instrument(name: str) -> str:
    """Instrument of a single-instrument file: its name up to the first ``_``, upper-cased."""
    stem = PurePosixPath(name).name.split(".")[0]
    return stem.split("_")[0].upper() or stem.upper()


def to_long(
    frame: pd.DataFrame,
    name: str,
    layout: Layout = "auto",
    instrument: str | None = None,
    parquet: bool = False,
) -> pd.DataFrame:
    """Normalise a raw table (long, single-instrument or wide) to the long bar format.

    Args:
        frame: The table as read, all cells as text for CSV.
        name: File name used in error messages.
        layout: ``auto`` to detect, or force ``long`` / ``wide``.
        instrument: Name for a single-instrument file (default: from the file name).
        parquet: Whether positions are Parquet rows (else CSV lines, header = line 1).

    Returns:
        Long-format bars in input order.
    """
    canon = _canonical(frame)
    kind = detect_layout(canon) if layout == "auto" else layout
    if kind == "wide":
        # Instruments keep their own names: a ticker such as LOW is not the low price.
        first = str(frame.columns[0])
        stamps = parse_timestamps(frame.iloc[:, 0], name, first or "(first column)", parquet)
        values = {
            str(c): parse_numbers(frame.iloc[:, i + 1], name, str(c), parquet)
            for i, c in enumerate(frame.columns[1:])
        }
        wide = pd.DataFrame(values, index=frame.index)
        wide.insert(0, "timestamp", stamps)
        long = wide.melt(id_vars="timestamp", var_name="instrument", value_name="close")
        long = long.dropna(subset=["close"])
        long["instrument"] = long["instrument"].astype(str)
        return long[["timestamp", "instrument", "close"]].reset_index(drop=True)
    if kind == "single":
        canon = canon.assign(instrument=instrument or default_instrument(name))
    _missing(name, canon, REQUIRED)
    out = pd.DataFrame(
        {
            "timestamp": parse_timestamps(canon["timestamp"], name, "timestamp", parquet),
            "instrument": canon["instrument"].astype(str).str.strip(),
        }
    )
    for column in VALUE_COLUMNS:
        if column in canon.columns:
            out[column] = parse_numbers(canon[column], name, column, parquet)
    blank = (out["instrument"] == "").to_numpy()
    if blank.any():
        where = _line(int(np.flatnonzero(blank)[0]), parquet)
        raise DataError(f"{name}: {where} column instrument: expected a name, got ''")
    return out.reset_index(drop=True)


def parse_bars(
    name: str, data: bytes, layout: Layout = "auto", instrument: str | None = None
) -> pd.DataFrame:
    """Parse one raw file's bytes into long-format bars.

    Args:
        name: The file's name (its suffix picks Parquet vs CSV; gzip is detected by content).
        data: The raw bytes, exactly as archived.
        layout: ``auto``, ``long`` or ``wide``.
        instrument: Name for a single-instrument OHLCV file.

    Returns:
        Long-format bars.

    Raises:
        DataError: One line naming the file, line/column and what was expected.
    """
    if not data:
        raise DataError(f"{name}: empty file (expected a header line and at least one bar)")
    frame = read_table(name, data)
    if frame.empty:
        raise DataError(f"{name}: no rows (expected at least one bar)")
    return to_long(frame, name, layout, instrument, parquet=is_parquet(name, data))
