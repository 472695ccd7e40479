"""Health stage: freshness, completeness and feature PSI against the previous run.

* Freshness: each instrument's latest bar against ``as_of``, in expected bars of the frequency
  (business days for daily bars). ``health.as_of: null`` judges at the dataset's latest bar,
  so the bundled historical data is not critical merely for being old; ``"now"`` uses the
  clock (what a nightly production run sets); an ISO timestamp pins it.
* Completeness: the missing rate of each feature and of the bars (per instrument) over the
  latest ``psi_window_bars`` bars.
* Drift: the PSI of each feature over that window against the previous run's window, kept as
  a small quantile summary in ``health.snapshot``. The snapshot moves on only when the run is
  not critical, so a drift is not forgotten by the next run.

A critical finding ends the command with one line and exit status 1, after the report.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.data.completeness import bar_slot, expected_calendar
from pipelines.data.params import Frequency, HealthParams
from pipelines.data.psi import psi, reference_bins
from pipelines.data.store import read_store
from pipelines.errors import ConfigError, DataError, PipelineError
from pipelines.io import atomic
from pipelines.monitoring import summaries

log = logging.getLogger(__name__)

LEVELS = {"ok": 0, "warning": 1, "critical": 2}


def resolve_as_of(value: str | None, bars: pd.DataFrame, now: pd.Timestamp) -> pd.Timestamp:
    """The moment freshness is judged at (see the module docstring)."""
    if value is None:
        return pd.Timestamp(bars["timestamp"].max())
    if value == "now":
        return now
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise ConfigError(
            f"params.yaml: health.as_of: expected null, 'now' or an ISO timestamp, got {value!r}"
        ) from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def bars_between(last: pd.Timestamp, as_of: pd.Timestamp, frequency: Frequency) -> int:
    """Expected bars after ``last`` up to ``as_of`` (0 when ``last`` is the latest slot)."""
    if as_of <= last:
        return 0
    return max(len(expected_calendar(last, as_of, frequency)) - 1, 0)


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
    now: pd.Timestamp | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compute the health report and the snapshot for the next run.

    Args:
        features: The feature store as one frame.
        bars: Validated bars.
        previous: The previous run's snapshot, or None on the first run.
        params: Thresholds.
        frequency: Bar frequency.
        now: The clock, used when ``params.as_of`` is ``"now"``.

    Returns:
        The report (``status`` is ok, warning or critical) and the new snapshot.
    """
    as_of = resolve_as_of(
        params.as_of, bars, now if now is not None else pd.Timestamp.now(tz="UTC")
    )
    findings: list[dict[str, Any]] = []

    def find(level: str, check: str, subject: str, detail: str) -> None:
        if level != "ok":
            findings.append({"level": level, "check": check, "subject": subject, "detail": detail})

    freshness = {}
    for name, last in bars.groupby("instrument")["timestamp"].max().items():
        age = bars_between(pd.Timestamp(last), as_of, frequency)
        level = "critical" if age > params.max_staleness_bars else "ok"
        freshness[str(name)] = {"last_bar": pd.Timestamp(last).isoformat(), "age_bars": age}
        find(level, "freshness", str(name), f"latest bar {age} bars before {as_of.isoformat()}")

    slots = np.sort(bar_slot(features["timestamp"], frequency).unique())
    window_start = pd.Timestamp(slots[-min(params.psi_window_bars, len(slots))])
    recent = features[bar_slot(features["timestamp"], frequency) >= window_start]
    recent_bars = bars[bar_slot(bars["timestamp"], frequency) >= window_start]
    names = [c for c in features.columns if c not in ("timestamp", "instrument")]
    expected = len(expected_calendar(window_start, as_of, frequency))
    bar_missing = {}
    for name, group in recent_bars.groupby("instrument"):
        rate = 1.0 - min(group["timestamp"].nunique() / max(expected, 1), 1.0)
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
    """Read the store and validated bars, assess, write the report (and the snapshot)."""
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
    report, snapshot = assess(
        features, bars, previous, params.health, params.data.frequency, pd.Timestamp.now(tz="UTC")
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
