"""Validate stage: hard rules stop the batch, row rules quarantine rows, the rest goes on.

Input is ``paths.ingested`` (or ``--input``: any file the ingest parser reads, CSV or Parquet,
long, wide or single-instrument, read exactly as ingest reads it with the source's layout and
instrument name). Outputs: ``paths.validated`` (the rows that passed),
``paths.quarantine/validate/rejected.parquet`` (every rejected row with its rule, reason and
line) and ``paths.validation_report`` (counts per rule and per instrument, the inferred
frequency, completeness and gaps in each instrument's own calendar).

Hard rules (one line, nothing written): an unreadable file, a missing required column, a bar
frequency that is not ``data.frequency``. More than ``validation.max_integrity_rejects`` rows
failing an integrity rule (a cell that did not parse, NaN or infinite values, a non-positive
price, a duplicate, OHLC, a bar from the future, no reference data), counting the rows the
latest ingest rejected, ends the stage with one line and a non-zero exit, after the outputs
are written so the rejected rows can be inspected. Anomalies (return outliers, stale prices)
are quarantined without failing the stage.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import Params
from pipelines.data import frequency as bar_frequency
from pipelines.data import reference, rules, sources
from pipelines.data.completeness import completeness_table
from pipelines.data.instruments import calendar_of, covered, made_rows
from pipelines.data.params import Frequency, ValidationParams
from pipelines.data.sources.formats import Layout, Parsed, is_parquet
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


def validate_bars(
    bars: pd.DataFrame,
    params: ValidationParams,
    frequency: Frequency,
    rows: pd.DataFrame,
    now: pd.Timestamp | None = None,
) -> Validation:
    """Apply the row rules and the completeness check to schema-checked bars.

    Args:
        bars: Long-format bars in input order (index = input position).
        params: Thresholds.
        frequency: Bar frequency (slots, the future-bar margin, the calendars' units).
        rows: The instrument master's current rows (calendars, validity).
        now: The run's clock (bars after it plus one bar are rejected); None: no check.

    Returns:
        Valid rows (sorted by instrument, time), rejected rows with ``rule``, ``reason`` and
        ``input_row`` (0-based input position), and the report.
    """
    # Category codes make the many per-instrument group-bys cheap on millions of rows.
    bars = bars.reset_index(drop=True)
    bars = bars.assign(instrument=bars["instrument"].astype(str).astype("category"))
    inside = covered(rows, bars["instrument"], bars["timestamp"])
    integrity = rules.integrity_failures(bars, frequency, now=now, covered=inside)
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
    by_instrument = per_rule.groupby(["instrument", "rule"], observed=True).size()
    last = valid.groupby("instrument", sort=True)["timestamp"].max()
    calendars = calendar_of(rows, {str(k): pd.Timestamp(v) for k, v in last.items()})
    instruments: dict[str, Any] = completeness_table(
        valid["instrument"], valid["timestamp"], frequency, params.max_gap_bars, calendars
    )
    totals = {"expected_bars": 0, "missing_bars": 0, "long_gaps": 0, "off_calendar_bars": 0}
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


def read_input(path: Path, params: Params, default_input: bool) -> Parsed:
    """Read bars to validate through the ingest parser (one parse path for both).

    The stage's own input (``paths.ingested``) is long Parquet; ``--input`` is read with the
    configured source's layout and single-instrument name, as ingest would read it.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: input not found (run `pipelines data ingest` first)") from None
    layout: Layout = "auto"
    instrument = None
    source = params.data.source
    if default_input:
        layout = "long"
    elif source in ("sample", "file", "s3"):
        config = getattr(params.data, source)
        layout, instrument = getattr(config, "layout", "auto"), config.instrument
    item = sources.RawItem(path.name, data, layout=layout, instrument=instrument, origin=str(path))
    parsed = sources.parse_item(item)
    if parsed.bars.empty and parsed.rejects.empty:
        raise DataError(f"{path}: no rows (expected at least one bar)")
    if not parsed.bars.empty:
        rules.check_schema(parsed.bars, str(path))
    return parsed


def reference_rows(params: Params, bars: pd.DataFrame) -> pd.DataFrame:
    """The master's current rows, plus rows the source's ``market`` makes for unlisted ones."""
    rows = reference.current(reference.read(params.paths.reference))
    first = bars.groupby("instrument", sort=True)["timestamp"].min()
    listed = set(rows["instrument"])
    unlisted = {str(k): pd.Timestamp(v) for k, v in first.items() if str(k) not in listed}
    defaults, where = sources.market_defaults(params.data)
    made = made_rows(unlisted, defaults, where)
    return pd.concat([rows, made], ignore_index=True) if len(made) else rows


def _ingest_rejects(params: Params) -> tuple[int, str | None]:
    """Rows the latest ingest rejected (they count as integrity rejects of its batch)."""
    state = Path(params.paths.ingest_state)
    if not state.exists():
        return 0, None
    try:
        run = json.loads(state.read_text(encoding="utf-8")).get("last_run", {})
        return int(run.get("rejected", 0)), run.get("rejected_file")
    except (ValueError, TypeError, AttributeError):
        return 0, None


def _parse_rejects(parsed: Parsed) -> pd.DataFrame:
    rejects = parsed.rejects
    return pd.DataFrame(
        {
            "timestamp": pd.Series(pd.NaT, index=rejects.index, dtype="datetime64[ns, UTC]"),
            "instrument": rejects["instrument"].astype(str),
            "rule": "unparseable",
            "reason": rejects["reason"].astype(str),
            "input_row": -1,
            "line": rejects["line"].astype("int64"),
        }
    )


def main(params: Params, input_path: str | None = None) -> int:
    """Read, validate, write valid rows, quarantine and report; fail on integrity rejects."""
    started = time.perf_counter()
    source = Path(input_path or params.paths.ingested)
    parsed = read_input(source, params, default_input=input_path is None)
    bars = parsed.bars
    unit = "row" if is_parquet(source.name, b"") or input_path is None else "line"
    if bars.empty:
        raise DataError(
            f"{source}: no row could be read, first: {unit} {int(parsed.rejects.iloc[0]['line'])}"
            f": {parsed.rejects.iloc[0]['reason']}"
        )
    stats = bar_frequency.check(
        bars["instrument"], bars["timestamp"], params.data.frequency, str(source)
    )
    now = pd.Timestamp.now(tz="UTC")
    result = validate_bars(
        bars, params.validation, params.data.frequency, reference_rows(params, bars), now
    )
    lines = parsed.lines[result.rejected["input_row"].to_numpy(dtype="int64")]
    rejected = pd.concat(
        [_parse_rejects(parsed), result.rejected.assign(line=lines)], ignore_index=True
    )
    ingest_count, ingest_file = (0, None) if input_path else _ingest_rejects(params)
    report = result.report
    report["input"] = str(source)
    report["frequency_inferred"] = bar_frequency.counts(stats)
    report["rules"]["unparseable"] = len(parsed.rejects)
    report["integrity_rejects"] += len(parsed.rejects)
    report["rows_quarantined"] += len(parsed.rejects)
    report["ingest_rejects"] = {"rows": ingest_count, "file": ingest_file}
    quarantine = Path(params.paths.quarantine) / QUARANTINE_FILE
    report["quarantine_file"] = str(quarantine)
    valid = result.valid
    atomic.write_with(params.paths.validated, lambda tmp: valid.to_parquet(tmp, index=False))
    atomic.write_with(quarantine, lambda tmp: rejected.to_parquet(tmp, index=False))
    atomic.write_json(params.paths.validation_report, report)
    summary = summaries.summary_path(params.paths.reports, "validation")
    atomic.write_json(summary, summaries.validation_summary(report))
    log.info(
        "validate: %d rows in, %d valid, %d quarantined %s; completeness %.4f (%.1fs)",
        len(bars),
        len(valid),
        len(rejected),
        {k: v for k, v in report["rules"].items() if v},
        report["completeness"]["ratio"],
        time.perf_counter() - started,
    )
    integrity = rejected[rejected["rule"].isin(rules.INTEGRITY_RULES)]
    allowed = params.validation.max_integrity_rejects
    if len(integrity) + ingest_count > allowed:
        where = _where(integrity, unit) if len(integrity) else f"the latest ingest ({ingest_file})"
        raise DataError(
            f"{source}: {len(integrity) + ingest_count} row(s) failed integrity rules, first at "
            f"{where} (expected at most validation.max_integrity_rejects={allowed}); rows kept "
            f"in {quarantine if len(integrity) else ingest_file}"
        )
    return 0


def _where(rejected: pd.DataFrame, unit: str) -> str:
    first = rejected.iloc[0]
    stamp = first["timestamp"]
    when = f" {stamp.isoformat()}" if not pd.isna(stamp) else ""
    who = f"({first['instrument']}{when}): " if first["instrument"] or when else ""
    return f"{unit} {int(first['line'])} {who}{first['reason']}"
