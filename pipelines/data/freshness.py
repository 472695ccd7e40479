"""Freshness in the instrument's own sessions: how many bars are due but not stored.

An instrument's age is the number of its calendar's bar slots that started after its latest bar
and were complete (closed) by ``as_of``: a Friday-evening FX close judged on Sunday is 0 bars
old, a stock's Wednesday close judged on Thursday night is 1. ``as_of`` is:

* ``null``: the moment the dataset's latest bar was complete (replays and the bundled
  historical data are judged against themselves, not against today);
* ``"now"``: the clock (``pipelines data freshness``, the scheduled runs' check);
* an ISO timestamp: that moment.

``pipelines data freshness [--as-of now]`` writes ``reports/freshness.json`` and exits 1 when an
instrument is staler than ``health.max_staleness_bars``; the data_health stage runs the same
check at ``health.as_of``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import Params
from pipelines.data import reference
from pipelines.data.completeness import count_expected, slot_end
from pipelines.data.instruments import calendar_of
from pipelines.data.params import Frequency
from pipelines.errors import ConfigError, DataError, PipelineError
from pipelines.io import atomic

log = logging.getLogger(__name__)

REPORT_FILE = "freshness.json"


def latest_close(
    last: Mapping[str, pd.Timestamp], calendars: Mapping[str, str], frequency: Frequency
) -> pd.Timestamp:
    """When the dataset's latest bar was complete (its slot's end in its calendar)."""
    ends = [slot_end(calendars[n], frequency, t) for n, t in last.items() if n in calendars]
    return max(ends) if ends else max(last.values())


def resolve_as_of(value: str | None, latest: pd.Timestamp, now: pd.Timestamp) -> pd.Timestamp:
    """The moment freshness is judged at (see the module docstring)."""
    if value is None:
        return latest
    if value == "now":
        return now
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise ConfigError(
            f"params.yaml: health.as_of: expected null, 'now' or an ISO timestamp, got {value!r}"
        ) from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def assess(
    last: Mapping[str, pd.Timestamp],
    calendars: Mapping[str, str],
    frequency: Frequency,
    as_of: pd.Timestamp,
    max_staleness_bars: float,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Age of each instrument's latest bar in its own bars, and the critical findings.

    An instrument without a calendar (no reference data) is critical: its age is unknown.
    """
    table: dict[str, Any] = {}
    findings = []
    for name in sorted(last):
        stamp = pd.Timestamp(last[name])
        calendar = calendars.get(name)
        age = None if calendar is None else count_expected(calendar, frequency, stamp, as_of)
        table[name] = {"last_bar": stamp.isoformat(), "calendar": calendar, "age_bars": age}
        if age is None or age > max_staleness_bars:
            detail = (
                "no reference data: its calendar is unknown"
                if age is None
                else f"latest bar {age} {calendar} bars before {as_of.isoformat()}"
            )
            findings.append(
                {"level": "critical", "check": "freshness", "subject": name, "detail": detail}
            )
    return table, findings


def bar_calendars(
    params: Params, bars: pd.DataFrame
) -> tuple[dict[str, pd.Timestamp], dict[str, str]]:
    """Latest bar of each instrument and its calendar (from the stored instrument master)."""
    last = {
        str(k): pd.Timestamp(v) for k, v in bars.groupby("instrument")["timestamp"].max().items()
    }
    rows = reference.current(reference.read(params.paths.reference))
    return last, calendar_of(rows, last)


def main(params: Params, as_of: str | None = "now", now: pd.Timestamp | None = None) -> int:
    """Judge the validated bars' freshness at ``as_of``; write the report; exit 1 when stale."""
    validated = Path(params.paths.validated)
    if not validated.exists():
        raise DataError(f"{validated}: validated bars not found; run `pipelines data validate`")
    bars = pd.read_parquet(validated, columns=["timestamp", "instrument"])
    frequency = params.data.frequency
    last, calendars = bar_calendars(params, bars)
    clock = now if now is not None else pd.Timestamp.now(tz="UTC")
    moment = resolve_as_of(as_of, latest_close(last, calendars, frequency), clock)
    table, findings = assess(last, calendars, frequency, moment, params.health.max_staleness_bars)
    status = "critical" if findings else "ok"
    target = Path(params.paths.reports) / REPORT_FILE
    atomic.write_json(
        target,
        {"status": status, "as_of": moment.isoformat(), "findings": findings, "freshness": table},
    )
    log.info("freshness: %s as of %s (%d stale)", status, moment.isoformat(), len(findings))
    if findings:
        first = findings[0]
        raise PipelineError(
            f"{target}: {len(findings)} instrument(s) stale, first: {first['subject']}: "
            f"{first['detail']} (expected at most health.max_staleness_bars="
            f"{params.health.max_staleness_bars:g})",
            exit_code=1,
        )
    return 0
