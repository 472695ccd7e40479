"""``pipelines monitor drift``: compare two feature tables, write the report and the metrics.

Exit status (documented in docs/runbooks and the README): 0 ok, 10 warning, 20 critical. They
are kept apart from 2, the status of every command error (bad input, missing file), so that a
scheduler can tell "the features drifted" from "the check could not run".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.errors import DataError
from pipelines.io import atomic
from pipelines.monitoring import drift
from pipelines.monitoring.drift import FeatureDrift, Status, Thresholds
from pipelines.monitoring.textfile import render_feature_health

log = logging.getLogger(__name__)

EXIT_CODES: dict[Status, int] = {"ok": 0, "warning": 10, "critical": 20}
KEY_COLUMNS = ("timestamp", "instrument")


def thresholds(params: Params) -> Thresholds:
    """The drift limits, read from ``health`` in params.yaml (their one home)."""
    h = params.health
    return Thresholds(h.psi_warning, h.psi_critical, h.missing_warning, h.missing_critical)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a Parquet or CSV feature table, or end with one line naming the file.

    Raises:
        DataError: The file is missing, unreadable or empty.
    """
    file = Path(path)
    if not file.exists():
        raise DataError(f"{file}: file not found (expected a Parquet or CSV feature table)")
    try:
        if file.suffix in {".csv", ".gz"} or file.name.endswith(".csv.gz"):
            frame = pd.read_csv(file)
        else:
            frame = pd.read_parquet(file)
    except (OSError, ValueError) as exc:
        raise DataError(f"{file}: not a readable Parquet or CSV table ({exc})") from None
    if frame.empty:
        raise DataError(f"{file}: no rows")
    return frame


def numeric_features(reference: pd.DataFrame, current: pd.DataFrame, source: str) -> list[str]:
    """Features to compare: the reference's numeric columns, all present in the current table.

    Raises:
        DataError: A reference feature is missing from the current table, or a current column
            is not numeric.
    """
    names = [
        c
        for c in reference.columns
        if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(reference[c])
    ]
    if not names:
        raise DataError(f"{source}: the reference has no numeric feature columns")
    for name in names:
        if name not in current.columns:
            raise DataError(f"{source}: feature {name!r} of the reference is missing")
        if not pd.api.types.is_numeric_dtype(current[name]):
            raise DataError(
                f"{source}: column {name!r}: expected numbers, got {current[name].dtype}"
            )
    return names


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    params: Params,
    binning: str | None = None,
) -> list[FeatureDrift]:
    """Drift figures of every feature (pure: no I/O)."""
    mon = params.monitoring
    limits = thresholds(params)
    return [
        drift.feature_drift(
            name,
            reference[name].to_numpy(dtype="float64", na_value=np.nan),
            current[name].to_numpy(dtype="float64", na_value=np.nan),
            limits,
            binning or mon.binning,
            mon.n_bins,
            mon.epsilon,
        )
        for name in features
    ]


def build_report(
    results: list[FeatureDrift], params: Params, binning: str, context: dict[str, Any]
) -> dict[str, Any]:
    """The JSON report: overall status, exit code, limits, settings and figures per feature."""
    status = drift.overall(results)
    return {
        "status": status,
        "exit_code": EXIT_CODES[status],
        "thresholds": thresholds(params).__dict__,
        "binning": binning,
        "n_bins": params.monitoring.n_bins if binning == "quantile" else None,
        "epsilon": params.monitoring.epsilon if binning == "quantile" else None,
        **context,
        "features": [r.as_dict() for r in results],
    }


def publish(
    report: dict[str, Any],
    results: list[FeatureDrift],
    out: Path,
    prom: Path,
    latest_bars: dict[str, float] | None = None,
) -> int:
    """Write the JSON report and the textfile metrics atomically; return the exit status."""
    status: Status = report["status"]
    atomic.write_json(out, report)
    atomic.write_bytes(prom, render_feature_health(results, status, latest_bars))
    for result in results:
        if result.status != "ok":
            log.warning("%s: %s (%s)", result.feature, result.status, "; ".join(result.reasons))
    log.info("drift: %s over %d features; report %s, metrics %s", status, len(results), out, prom)
    return EXIT_CODES[status]


def main(
    params: Params,
    reference_path: str,
    current_path: str,
    out: str | None = None,
    binning: str | None = None,
    metrics: str | None = None,
) -> int:
    """Compare two feature tables; write the report and its metrics; return 0, 10 or 20.

    The metrics go beside the report (``drift.prom``) unless ``metrics`` names a file: an
    ad-hoc comparison must not land in the textfile collector's folder, where its series
    would clash with the hourly check's.
    """
    reference = read_table(reference_path)
    current = read_table(current_path)
    features = numeric_features(reference, current, current_path)
    chosen = binning or params.monitoring.binning
    results = compare(reference, current, features, params, chosen)
    context = {"reference": str(reference_path), "current": str(current_path)}
    report = build_report(results, params, chosen, context)
    report_path = Path(out or params.monitoring.drift_report)
    prom = Path(metrics) if metrics else report_path.with_suffix(".prom")
    return publish(report, results, report_path, prom)
