"""Health stage: freshness, completeness and feature PSI against the previous run.

* Freshness: each instrument's latest bar against ``as_of``, in bars of its own calendar (see
  :mod:`pipelines.data.freshness`). ``health.as_of: null`` judges at the dataset's latest bar,
  so replays and the bundled historical data are not critical merely for being old; the
  scheduled runs judge against the clock with ``pipelines data freshness`` (``as_of: now``).
* Completeness: the missing rate of each feature, and of each instrument's bars against its
  calendar's expected bars (weekends and holidays are not expected), over the latest
  ``psi_window_bars`` bars.
* Drift: the PSI of each feature over that window against the previous run's window, kept as
  a small quantile summary in ``health.snapshot``. The snapshot moves on only when the run is
  not critical, so a drift is not forgotten by the next run.

A critical finding ends the command with one line and exit status 1, after the report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.data.calendars import slot_of
from pipelines.data.completeness import count_expected
from pipelines.data.freshness import assess as assess_freshness
from pipelines.data.freshness import bar_calendars, latest_close, resolve_as_of
from pipelines.data.params import Frequency, HealthParams
from pipelines.data.psi import psi, reference_bins
from pipelines.data.store import read_store
from pipelines.errors import DataError, PipelineError
from pipelines.io import atomic
from pipelines.monitoring import summaries

log = logging.getLogger(__name__)

LEVELS = {"ok": 0, "warning": 1, "critical": 2}


def _level(value: float, warning: float, critical: float) -> str:
    if np.isnan(value):
        return "ok"
    return "critical" if value > critical else "warning" if value > warning else "ok"


def assess(
    features: pd.DataFrame,
    bars: pd.DataFrame,
    previous: dict[str, Any] | None,
    params: HealthParams,
    frequency: Frequency,
    calendars: Mapping[str, str],
    now: pd.Timestamp | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compute the health report and the snapshot for the next run.

    Args:
        features: The feature store as one frame.
        bars: Validated bars.
        previous: The previous run's snapshot, or None on the first run.
        params: Thresholds.
        frequency: Bar frequency.
        calendars: Calendar of each instrument (from the instrument master).
        now: The clock, used when ``params.as_of`` is ``"now"``.

    Returns:
        The report (``status`` is ok, warning or critical) and the new snapshot.
    """
    last = {
        str(k): pd.Timestamp(v) for k, v in bars.groupby("instrument")["timestamp"].max().items()
    }
    as_of = resolve_as_of(
        params.as_of,
        latest_close(last, calendars, frequency),
        now if now is not None else pd.Timestamp.now(tz="UTC"),
    )
    freshness, findings = assess_freshness(
        last, calendars, frequency, as_of, params.max_staleness_bars
    )

    def find(level: str, check: str, subject: str, detail: str) -> None:
        if level != "ok":
            findings.append({"level": level, "check": check, "subject": subject, "detail": detail})

    feature_slots = slot_of(features["timestamp"], frequency)
    slots = np.unique(feature_slots)
    window_start = pd.Timestamp(int(slots[-min(params.psi_window_bars, len(slots))]), tz="UTC")
    recent = features[feature_slots >= window_start.as_unit("ns").value]
    bar_slots = slot_of(bars["timestamp"], frequency)
    recent_bars = bars.assign(_slot=bar_slots)[bar_slots >= window_start.as_unit("ns").value]
    names = [c for c in features.columns if c not in ("timestamp", "instrument")]
    bar_missing = {}
    before = window_start - pd.Timedelta(1, unit="ns")
    for name, group in recent_bars.groupby("instrument"):
        calendar = calendars.get(str(name))
        if calendar is None:
            continue
        expected = count_expected(calendar, frequency, before, as_of)
        rate = 1.0 - min(group["_slot"].nunique() / max(expected, 1), 1.0)
        bar_missing[str(name)] = round(rate, 6)
        level = _level(rate, params.missing_warning, params.missing_critical)
        find(level, "bar_completeness", str(name), f"{rate:.1%} of expected bars missing")

    snapshot_features: dict[str, Any] = {}
    feature_report: dict[str, Any] = {}
    reference = (previous or {}).get("features", {})
    for name in names:
        values = recent[name].to_numpy(dtype="float64")
        missing = float(np.mean(~np.isfinite(values))) if values.size else 1.0
        drift = psi(reference[name], values) if name in reference else float("nan")
        feature_report[name] = {
            "missing_rate": round(missing, 6),
            "psi": None if np.isnan(drift) else round(drift, 6),
        }
        find(
            _level(missing, params.missing_warning, params.missing_critical),
            "feature_missing_rate",
            name,
            f"{missing:.1%} missing",
        )
        find(_level(drift, params.psi_warning, params.psi_critical), "psi", name, f"{drift:.3f}")
        snapshot_features[name] = reference_bins(values, params.psi_bins)

    status = max((f["level"] for f in findings), key=LEVELS.__getitem__, default="ok")
    report = {
        "status": status,
        "as_of": as_of.isoformat(),
        "window": {
            "start": window_start.isoformat(),
            "bars": int(min(params.psi_window_bars, len(slots))),
        },
        "psi_reference": (previous or {}).get("window"),
        "counts": {
            level: sum(f["level"] == level for f in findings) for level in ("warning", "critical")
        },
        "findings": findings,
        "freshness": freshness,
        "bar_missing_rate": bar_missing,
        "features": feature_report,
    }
    snapshot = {"window": report["window"], "as_of": report["as_of"], "features": snapshot_features}
    return report, snapshot


def main(params: Params) -> int:
    """Read the store, validated bars and master; assess; write the report (and snapshot)."""
    features, _ = read_store(params.paths.features)
    validated = Path(params.paths.validated)
    if not validated.exists():
        raise DataError(f"{validated}: validated bars not found; run `pipelines data validate`")
    bars = pd.read_parquet(validated)
    snapshot_path = Path(params.health.snapshot)
    previous = None
    if snapshot_path.exists():
        try:
            previous = json.loads(snapshot_path.read_text(encoding="utf-8"))
        except ValueError:
            raise DataError(f"{snapshot_path}: health snapshot is not valid JSON") from None
    _, calendars = bar_calendars(params, bars)
    report, snapshot = assess(
        features,
        bars,
        previous,
        params.health,
        params.data.frequency,
        calendars,
        pd.Timestamp.now(tz="UTC"),
    )
    atomic.write_json(params.paths.health_report, report)
    summary = summaries.summary_path(params.paths.reports, "data_health")
    atomic.write_json(summary, summaries.data_health_summary(report))
    if report["status"] != "critical":
        atomic.write_json(snapshot_path, snapshot)
    log.info(
        "health: %s (%d warning, %d critical) as of %s",
        report["status"],
        report["counts"]["warning"],
        report["counts"]["critical"],
        report["as_of"],
    )
    if report["status"] == "critical":
        first = next(f for f in report["findings"] if f["level"] == "critical")
        raise PipelineError(
            f"{params.paths.health_report}: {report['counts']['critical']} critical finding(s), "
            f"first: {first['check']} {first['subject']}: {first['detail']}",
            exit_code=1,
        )
    return 0
