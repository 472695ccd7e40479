"""Validate stage: hard rules stop the batch, row rules quarantine rows, the rest goes on.

Input is ``paths.ingested`` (or ``--input``: Parquet in the long format, or any CSV the ingest
parser reads). Outputs: ``paths.validated`` (the rows that passed),
``paths.quarantine/validate/rejected.parquet`` (every rejected row with its rule and reason) and
``paths.validation_report`` (counts per rule and per instrument, completeness, gaps).

More than ``validation.max_integrity_rejects`` rows failing an integrity rule (NaN,
non-positive price, duplicate, OHLC) ends the stage with one line and a non-zero exit, after
the outputs are written so the rejected rows can be inspected. Anomalies (return outliers,
stale prices) are quarantined without failing the stage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import Params
from pipelines.data import rules
from pipelines.data.completeness import completeness_table
from pipelines.data.params import Frequency, ValidationParams
from pipelines.data.sources.formats import is_parquet, layout_of, read_table, to_long
from pipelines.errors import DataError
from pipelines.io import atomic
from pipelines.monitoring import summaries

log = logging.getLogger(__name__)

QUARANTINE_FILE = "validate/rejected.parquet"


@dataclass(frozen=True)
class Validation:
    """Result of :func:`validate_bars`."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    report: dict[str, Any]


def validate_bars(bars: pd.DataFrame, params: ValidationParams, frequency: Frequency) -> Validation:
    """Apply the row rules and the completeness check to schema-checked bars.

    Args:
        bars: Long-format bars in input order (index = input position).
        params: Thresholds.
        frequency: Bar frequency (picks the expected calendar).

    Returns:
        Valid rows (sorted by instrument, time), rejected rows with ``rule``, ``reason`` and
        ``input_row`` (0-based input position), and the report.
    """
    # Category codes make the many per-instrument group-bys cheap on millions of rows.
    bars = bars.reset_index(drop=True)
    bars = bars.assign(instrument=bars["instrument"].astype(str).astype("category"))
    integrity = rules.integrity_failures(bars, frequency)
    survivors = bars.drop(index=integrity.index)
    anomalies, jumps = rules.anomaly_failures(survivors, params)
    flagged = pd.concat([integrity, anomalies]).sort_index()
    rejected = bars.loc[flagged.index].assign(
        rule=flagged["rule"], reason=flagged["reason"], input_row=flagged.index
    )
    valid = bars.drop(index=flagged.index)
    valid = valid.sort_values(["instrument", "timestamp"], kind="mergesort").reset_index(drop=True)
    valid["instrument"] = valid["instrument"].astype(str)
    rejected["instrument"] = rejected["instrument"].astype(str)
    rule_names = rules.INTEGRITY_RULES + rules.ANOMALY_RULES
    counts = flagged["rule"].value_counts()
    unordered = rules.non_monotonic(bars)
    per_rule = flagged.assign(instrument=bars.loc[flagged.index, "instrument"].to_numpy())
    by_instrument = per_rule.groupby(["instrument", "rule"]).size()
    instruments: dict[str, Any] = {}
    totals = {"expected_bars": 0, "missing_bars": 0, "long_gaps": 0}
    instruments.update(
        completeness_table(valid["instrument"], valid["timestamp"], frequency, params.max_gap_bars)
    )
    for entry in instruments.values():
        for total in totals:
            totals[total] += entry[total]
    spans = bars.groupby("instrument", sort=True, observed=True)["timestamp"].agg(
        ["size", "min", "max"]
    )
    for key, span in spans.iterrows():
        name = str(key)
        entry = instruments.setdefault(name, {"expected_bars": 0, "missing_bars": 0})
        entry["rows"] = int(span["size"])
        entry["first"] = span["min"].isoformat()
        entry["last"] = span["max"].isoformat()
        entry["non_monotonic"] = int(unordered.get(name, 0))
        entry["rules"] = {rule: int(by_instrument.get((name, rule), 0)) for rule in rule_names}
        entry["quarantined"] = sum(entry["rules"].values())
    integrity_count = int(sum(counts.get(r, 0) for r in rules.INTEGRITY_RULES))
    report = {
        "frequency": frequency,
        "rows_in": len(bars),
        "rows_valid": len(valid),
        "rows_quarantined": len(rejected),
        "quarantined_fraction": round(len(rejected) / len(bars), 6),
        "integrity_rejects": integrity_count,
        "rules": {rule: int(counts.get(rule, 0)) for rule in rule_names},
        "non_monotonic": int(unordered.sum()),
        "return_jumps_kept": jumps,
        "completeness": {
            **totals,
            "ratio": round(1 - totals["missing_bars"] / max(totals["expected_bars"], 1), 6),
        },
        "instruments": instruments,
    }
    return Validation(valid, rejected.reset_index(drop=True), report)


def read_input(path: Path) -> tuple[pd.DataFrame, str]:
    """Read bars to validate and say how rows are numbered (``row`` or ``line``).

    Parquet must already be in the long format (strict schema); CSV goes through the ingest
    parser (naive timestamps are UTC).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: input not found (run `pipelines data ingest` first)") from None
    if is_parquet(path.name, data):
        if not data:
            raise DataError(f"{path}: empty file (expected Parquet bars)")
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
        rules.check_schema(frame, str(path))
        return frame, "row"
    if not data:
        raise DataError(f"{path}: empty file (expected a header line and at least one bar)")
    table = read_table(str(path), data)
    frame = to_long(table, str(path))
    rules.check_schema(frame, str(path))
    # Wide rows are melted, so a row position would not be a line of the file.
    return frame, "" if layout_of(table) == "wide" else "line"


def _where(rejected: pd.DataFrame, numbering: str) -> str:
    first = rejected.iloc[0]
    position = int(first["input_row"])
    row = {"row": f"row {position + 1} ", "line": f"line {position + 2} "}.get(numbering, "")
    return f"{row}({first['instrument']} {first['timestamp'].isoformat()}): {first['reason']}"


def main(params: Params, input_path: str | None = None) -> int:
    """Read, validate, write valid rows, quarantine and report; fail on integrity rejects."""
    started = time.perf_counter()
    source = Path(input_path or params.paths.ingested)
    bars, numbering = read_input(source)
    result = validate_bars(bars, params.validation, params.data.frequency)
    result.report["input"] = str(source)
    quarantine = Path(params.paths.quarantine) / QUARANTINE_FILE
    result.report["quarantine_file"] = str(quarantine)
    valid, rejected = result.valid, result.rejected
    atomic.write_with(params.paths.validated, lambda tmp: valid.to_parquet(tmp, index=False))
    atomic.write_with(quarantine, lambda tmp: rejected.to_parquet(tmp, index=False))
    atomic.write_json(params.paths.validation_report, result.report)
    summary = summaries.summary_path(params.paths.reports, "validation")
    atomic.write_json(summary, summaries.validation_summary(result.report))
    log.info(
        "validate: %d rows in, %d valid, %d quarantined %s; completeness %.4f (%.1fs)",
        len(bars),
        len(valid),
        len(rejected),
        {k: v for k, v in result.report["rules"].items() if v},
        result.report["completeness"]["ratio"],
        time.perf_counter() - started,
    )
    integrity = rejected[rejected["rule"].isin(rules.INTEGRITY_RULES)]
    if len(integrity) > params.validation.max_integrity_rejects:
        raise DataError(
            f"{source}: {len(integrity)} row(s) failed integrity rules, first at "
            f"{_where(integrity, numbering)} (expected at most "
            f"validation.max_integrity_rejects={params.validation.max_integrity_rejects}); "
            f"rows kept in {quarantine}"
        )
    return 0
