"""The instrument master: asset class, calendar, currency and tick size, with validity dates.

A row says what an instrument is from ``valid_from`` (inclusive) to ``valid_to`` (exclusive;
empty: still valid). The master is kept as a history (``history.csv``): every version of every
row ever recorded, with ``recorded_at`` and ``superseded_at`` (empty: current), so the master
as it was known on any date can be rebuilt; ``instruments.csv`` is the current view. Ingest
reads updates from the same source as the bars (see :mod:`pipelines.data.reference_ingest`).

Rows that break a rule are rejected one by one with their line and reason (see
:func:`parse_reference`); the rest is kept.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.data import calendars
from pipelines.data.sources.formats import REJECT_COLUMNS, empty_rejects, read_table
from pipelines.errors import DataError
from pipelines.io import atomic

COLUMNS = [
    "instrument",
    "name",
    "asset_class",
    "calendar",
    "currency",
    "tick_size",
    "valid_from",
    "valid_to",
]
REQUIRED = ("instrument", "asset_class", "calendar", "currency", "valid_from")
ASSET_CLASSES = ("equity", "fx", "crypto", "future")
HISTORY_COLUMNS = [*COLUMNS, "recorded_at", "superseded_at"]
CURRENT_FILE = "instruments.csv"
HISTORY_FILE = "history.csv"
_CURRENCY = re.compile(r"^[A-Z0-9]{3,5}$")


def _dates(values: pd.Series) -> pd.Series:
    text = values.astype(str).str.strip()
    text = text.where(~text.isin(["", "nan", "NaT", "None"]))
    return pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601").dt.as_unit("ns")


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Types of a master read from text: dates UTC, tick size float, the rest text."""
    out = pd.DataFrame(index=frame.index)
    for column in HISTORY_COLUMNS:
        raw = frame[column] if column in frame.columns else pd.Series("", index=frame.index)
        if column in ("valid_from", "valid_to", "recorded_at", "superseded_at"):
            out[column] = _dates(raw)
        elif column == "tick_size":
            text = raw.astype(str).str.strip()
            out[column] = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
        else:
            out[column] = raw.fillna("").astype(str).str.strip()
    return out


def _reasons(raw: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """The first rule each row breaks (empty text: none)."""
    reasons = np.full(len(rows), "", dtype=object)

    def fail(mask: np.ndarray, text: np.ndarray | str) -> None:
        free = mask & (reasons == "")
        reasons[free] = text[free] if isinstance(text, np.ndarray) else text

    def got(column: str) -> np.ndarray:
        values = raw[column] if column in raw.columns else pd.Series("", index=raw.index)
        return ("got '" + values.fillna("").astype(str) + "'").to_numpy(dtype=object)

    fail((rows["instrument"] == "").to_numpy(), "column instrument: expected a name, got ''")
    wrong = ~rows["asset_class"].isin(ASSET_CLASSES).to_numpy()
    fail(
        wrong,
        "column asset_class: expected one of "
        + ", ".join(ASSET_CLASSES)
        + ", "
        + got("asset_class"),
    )
    known = rows["calendar"].map(calendars.known).to_numpy(dtype=bool)
    fail(
        ~known,
        "column calendar: expected an exchange_calendars name (XNYS, CMES, 24/7) or FX, "
        + got("calendar"),
    )
    code = rows["currency"].map(lambda c: bool(_CURRENCY.match(c))).to_numpy(dtype=bool)
    fail(~code, "column currency: expected a code such as USD or USDT, " + got("currency"))
    tick_text = raw["tick_size"].fillna("").astype(str).str.strip() if "tick_size" in raw else None
    if tick_text is not None:
        tick = rows["tick_size"].to_numpy()
        bad_tick = (tick_text != "").to_numpy() & ~(np.isfinite(tick) & (tick > 0))
        fail(
            bad_tick, "column tick_size: expected a positive number or nothing, " + got("tick_size")
        )
    fail(
        rows["valid_from"].isna().to_numpy(),
        "column valid_from: expected a date such as 2004-08-19, " + got("valid_from"),
    )
    to_text = raw["valid_to"].fillna("").astype(str).str.strip() if "valid_to" in raw else None
    if to_text is not None:
        fail(
            ((to_text != "") & rows["valid_to"].isna()).to_numpy(),
            "column valid_to: expected a date or nothing, " + got("valid_to"),
        )
    order = (rows["valid_to"].notna() & (rows["valid_to"] <= rows["valid_from"])).to_numpy()
    fail(order, "valid_to is not after valid_from")
    return reasons


def _overlaps(rows: pd.DataFrame, lines: np.ndarray) -> np.ndarray:
    """For rows whose validity overlaps an earlier-starting row of the instrument, a reason."""
    order = np.lexsort((lines, rows["valid_from"].to_numpy(), rows["instrument"].to_numpy()))
    ordered = rows.iloc[order]
    same = ordered["instrument"].to_numpy()
    prev_same = np.r_[False, same[1:] == same[:-1]]
    prev_to = ordered["valid_to"].shift(1)
    clash = prev_same & (prev_to.isna() | (ordered["valid_from"] < prev_to)).to_numpy()
    prev_line = np.r_[0, lines[order][:-1]]
    out = np.full(len(rows), "", dtype=object)
    out[order[clash]] = [f"validity overlaps the row at line {n}" for n in prev_line[clash]]
    return out


def parse_reference(name: str, data: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse an instrument master file (CSV or Parquet) into valid rows and rejects.

    Raises:
        DataError: The file is unreadable or lacks a required column.
    """
    raw = read_table(name, data).rename(columns=lambda c: str(c).strip().lower())
    absent = [c for c in REQUIRED if c not in raw.columns]
    if absent:
        found = ", ".join(map(str, raw.columns)) or "(none)"
        raise DataError(
            f"{name}: missing required column {absent[0]!r} (expected {', '.join(REQUIRED)}, "
            f"optional name, tick_size, valid_to; found: {found})"
        )
    raw = raw.reset_index(drop=True)
    rows = normalise(raw.astype(object).where(raw.notna(), ""))
    lines = np.arange(len(rows)) + 2
    reasons = _reasons(raw.astype(object), rows)
    fine = reasons == ""
    reasons[fine] = _overlaps(rows[fine], lines[fine])
    bad = reasons != ""
    rejects = pd.DataFrame(
        {
            "file": name,
            "line": lines[bad],
            "instrument": rows["instrument"].to_numpy(dtype=object)[bad],
            "reason": reasons[bad],
        },
        columns=list(REJECT_COLUMNS),
    )
    return rows.loc[~bad, COLUMNS].reset_index(drop=True), rejects if bad.any() else empty_rejects()


def current(history: pd.DataFrame) -> pd.DataFrame:
    """The rows in force now (not superseded)."""
    rows = history[history["superseded_at"].isna()]
    return rows.sort_values(["instrument", "valid_from"], kind="mergesort").reset_index(drop=True)


def read(folder: str | Path) -> pd.DataFrame:
    """The stored master history (empty before the first ingest)."""
    file = Path(folder) / HISTORY_FILE
    if not file.exists():
        return normalise(pd.DataFrame(columns=HISTORY_COLUMNS))
    return normalise(pd.read_csv(file, dtype=str, keep_default_na=False))


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    dates = ("valid_from", "valid_to", "recorded_at", "superseded_at")
    for column in [c for c in dates if c in out.columns]:
        stamps = pd.to_datetime(out[column], utc=True)
        midnight = stamps.notna() & (stamps == stamps.dt.normalize())
        text = stamps.map(lambda t: "" if pd.isna(t) else t.isoformat())
        out[column] = text.where(
            ~(midnight & column.startswith("valid")), stamps.dt.strftime("%Y-%m-%d")
        )
    return out


def write(folder: str | Path, history: pd.DataFrame) -> None:
    """Write the history and the current view (atomically, as CSV)."""
    ordered = history.sort_values(["instrument", "valid_from", "recorded_at"], kind="mergesort")
    atomic.write_text(
        Path(folder) / HISTORY_FILE, _text(ordered[HISTORY_COLUMNS]).to_csv(index=False)
    )
    atomic.write_text(
        Path(folder) / CURRENT_FILE, _text(current(history)[COLUMNS]).to_csv(index=False)
    )


def _signatures(rows: pd.DataFrame) -> dict[str, list[tuple[str, ...]]]:
    """Each instrument's rows as sorted tuples of text (one conversion for the whole frame)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    text = _text(rows[COLUMNS]).astype(object)
    text = text.where(text.notna(), "")  # pandas keeps NaN through astype(str)
    for row in text.itertuples(index=False, name=None):
        out.setdefault(str(row[0]), []).append(tuple(str(v) for v in row))
    return {name: sorted(rows) for name, rows in out.items()}


def merge(
    history: pd.DataFrame, incoming: pd.DataFrame, now: pd.Timestamp
) -> tuple[pd.DataFrame, list[str]]:
    """Record an update: each instrument it lists gets exactly its rows from now on.

    Rows of other instruments stay as they are; replaced rows are kept as superseded.

    Returns:
        The new history and the instruments whose rows changed.
    """
    live = _signatures(current(history))
    changed = [n for n, rows in sorted(_signatures(incoming).items()) if rows != live.get(n)]
    if not changed:
        return history, []
    history = history.copy()
    replaced = history["instrument"].isin(changed) & history["superseded_at"].isna()
    history.loc[replaced, "superseded_at"] = now
    added = incoming[incoming["instrument"].isin(changed)].assign(recorded_at=now, superseded_at="")
    added = normalise(_text(added))
    parts = [f for f in (history, added) if not f.empty]
    return pd.concat(parts, ignore_index=True)[HISTORY_COLUMNS], changed
