"""News and sentiment events: the file format, parsing with row quarantine, the stored table.

An events file (CSV, gzip or not, or Parquet) has one row per published item:

========================  ==========================================================
``published_at``          when it was published (ISO 8601; no offset means UTC)
``instrument``            the instrument it is about (as named in the bars)
``sentiment``             a score in [-1, 1] (negative: bearish)
``headline``              optional text
``source``                optional publisher or feed name
========================  ==========================================================

Aliases ``timestamp``/``time``/``published`` and ``symbol``/``ticker`` are accepted. A row with
a time or score that does not parse, a score outside [-1, 1] or no instrument is rejected with
its line and reason; the rest is kept. The stored table (``paths.events``) holds every distinct
event ever ingested; the raw files are archived by ingest like the bars.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.data.sources.formats import (
    REJECT_COLUMNS,
    TIME_EXAMPLE,
    empty_rejects,
    is_parquet,
    parse_numbers,
    parse_timestamps,
    read_table,
)
from pipelines.errors import DataError

COLUMNS = ["published_at", "instrument", "sentiment", "headline", "source"]
REQUIRED = ("published_at", "instrument", "sentiment")
_ALIASES = {
    "timestamp": "published_at",
    "time": "published_at",
    "published": "published_at",
    "datetime": "published_at",
    "symbol": "instrument",
    "ticker": "instrument",
}


def empty() -> pd.DataFrame:
    """An events table without rows."""
    return pd.DataFrame(
        {
            "published_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "instrument": pd.Series(dtype=object),
            "sentiment": pd.Series(dtype="float64"),
            "headline": pd.Series(dtype=object),
            "source": pd.Series(dtype=object),
        }
    )


def parse_events(name: str, data: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse an events file into events and rejected rows (``file, line, instrument, reason``).

    Raises:
        DataError: The file is unreadable or lacks a required column.
    """
    raw = read_table(name, data)
    names = {c: _ALIASES.get(str(c).strip().lower(), str(c).strip().lower()) for c in raw.columns}
    raw = raw.rename(columns=names).reset_index(drop=True)
    absent = [c for c in REQUIRED if c not in raw.columns]
    if absent:
        found = ", ".join(map(str, raw.columns)) or "(none)"
        raise DataError(
            f"{name}: missing required column {absent[0]!r} (expected {', '.join(REQUIRED)}, "
            f"optional headline, source; found: {found})"
        )
    stamps, bad_time = parse_timestamps(raw["published_at"])
    score, bad_score, infinite = parse_numbers(raw["sentiment"])
    instrument = raw["instrument"].fillna("").astype(str).str.strip()
    reasons = np.full(len(raw), "", dtype=object)
    text = raw["sentiment"].astype(str).to_numpy(dtype=object)
    outside = (score.abs() > 1.0).to_numpy() | score.isna().to_numpy() | infinite | bad_score
    reasons[outside] = "column sentiment: expected a score in [-1, 1], got '" + text[outside] + "'"
    reasons[bad_time] = (
        f"column published_at: expected {TIME_EXAMPLE}, got '"
        + raw["published_at"].astype(str).to_numpy(dtype=object)[bad_time]
        + "'"
    )
    reasons[(instrument == "").to_numpy()] = "column instrument: expected a name, got ''"
    bad = reasons != ""
    offset = 1 if is_parquet(name, data) else 2
    rejects = pd.DataFrame(
        {
            "file": name,
            "line": np.flatnonzero(bad) + offset,
            "instrument": instrument.to_numpy(dtype=object)[bad],
            "reason": reasons[bad],
        },
        columns=list(REJECT_COLUMNS),
    )
    events = pd.DataFrame(
        {
            "published_at": stamps,
            "instrument": instrument,
            "sentiment": score,
            "headline": raw["headline"].fillna("").astype(str) if "headline" in raw else "",
            "source": raw["source"].fillna("").astype(str) if "source" in raw else "",
        }
    )[~bad]
    return events.reset_index(drop=True), rejects if bad.any() else empty_rejects()


def read_stored(path: str | Path) -> pd.DataFrame:
    """The events ingested so far (an empty table before the first)."""
    file = Path(path)
    return pd.read_parquet(file) if file.exists() else empty()


def merge(stored: pd.DataFrame, batch: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Add the batch's events not stored yet; return the table and how many were added."""
    parts = [f for f in (stored, batch) if not f.empty]
    if not parts:
        return empty(), 0
    table = pd.concat(parts, ignore_index=True)[COLUMNS]
    table = table.drop_duplicates(COLUMNS, keep="first")
    table = table.sort_values(["instrument", "published_at"], kind="mergesort")
    return table.reset_index(drop=True), len(table) - len(stored)
