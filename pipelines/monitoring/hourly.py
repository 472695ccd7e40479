"""All checks of the hourly feature-health run, on data already loaded (pure apart from the model).

Three live windows, each the latest N timestamps of the feature store (all instruments):

* ``recent`` (``monitoring.window_bars``): missing rate, outliers and value range, point-wise
  checks that should see the freshest bars only;
* per feature (``window_covers_lookback``): PSI and KS of a feature use at least as many bars
  as the feature looks back (``mom_126``: 126). A 126-bar momentum moves little in 21 bars, so
  21 bars of it are about as many independent values as instruments, and its decile PSI
  against any reference is large by construction (median 1.0 over the bundled history);
* ``full`` (the longest of those): correlation, importance and the confidence distribution,
  which involve every feature at once.

The reference is the bundle's sample of the model's recent training window (see
``pipelines/training/reference.py``). Prediction power uses realised labels after the training
span only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.monitoring import correlation, drift, psi_limits, ranges
from pipelines.monitoring.checks import CheckResult, judge, judged, worst
from pipelines.monitoring.drift import STATUS_LEVEL, FeatureDrift, Status
from pipelines.monitoring.model_checks import model_checks
from pipelines.monitoring.params import Limits
from pipelines.monitoring.report import thresholds
from pipelines.registry.bundle import ModelBundle

_LOOKBACK = re.compile(r"_(\d+)$")


@dataclass(frozen=True)
class HourlyResult:
    """Per-feature drift figures, one row per check, the overall status and the windows."""

    features: list[FeatureDrift]
    checks: list[CheckResult]
    status: Status
    windows: dict[str, Any]


def lookback(feature: str) -> int:
    """Bars a feature looks back, from its name's trailing number (``vol_63``: 63; else 1)."""
    match = _LOOKBACK.search(feature)
    return int(match.group(1)) if match else 1


class Windows:
    """Latest-N-timestamp windows of one frame (its timestamps sorted once)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        # datetime64 (UTC) values: a tz-aware column's plain to_numpy() gives Python objects.
        self.times = frame["timestamp"].to_numpy(dtype="datetime64[ns]")
        self.stamps = np.unique(self.times)

    def latest(self, bars: int) -> pd.DataFrame:
        """Rows of the latest ``bars`` distinct timestamps (all instruments)."""
        cutoff = self.stamps[-min(bars, self.stamps.size)]
        if cutoff == self.stamps[0]:
            return self.frame  # the window holds every row: no copy
        return self.frame.loc[self.times >= cutoff].reset_index(drop=True)


def latest_window(frame: pd.DataFrame, bars: int) -> pd.DataFrame:
    """Rows of the latest ``bars`` distinct timestamps (all instruments)."""
    return Windows(frame).latest(bars)


def feature_bars(features: list[str], params: Params) -> dict[str, int]:
    """The live window length of each feature's PSI and KS."""
    mon = params.monitoring
    if not mon.window_covers_lookback:
        return dict.fromkeys(features, mon.window_bars)
    return {name: max(mon.window_bars, lookback(name)) for name in features}


def _values(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype="float64", na_value=np.nan)


def drift_rows(
    reference: pd.DataFrame,
    store: Windows,
    recent: pd.DataFrame,
    features: list[str],
    params: Params,
    metadata: dict[str, Any] | None = None,
) -> list[FeatureDrift]:
    """PSI and KS on each feature's own window, missing rate on the recent window.

    PSI limits are the model's calibrated ones (``metadata["psi_limits"]``, see
    :mod:`pipelines.monitoring.psi_limits`), never below ``health.psi_warning``/``psi_critical``.
    """
    mon, configured = params.monitoring, thresholds(params)
    floor = (configured.psi_warning, configured.psi_critical)
    bars = feature_bars(features, params)
    windows = {n: store.latest(n) for n in sorted(set(bars.values()))}
    rows = []
    for name in features:
        # Sorted once: PSI's bin counts and KS then search the samples instead of every value.
        ref = np.sort(_values(reference, name))
        cur = np.sort(_values(windows[bars[name]], name))
        psi_value = drift.psi(ref, cur, mon.binning, mon.n_bins, mon.epsilon)
        statistic, pvalue = drift.ks(ref, cur)
        missing = drift.missing_rate(_values(recent, name))
        warning, critical = psi_limits.limits_for(metadata, name, floor)
        limits = replace(configured, psi_warning=warning, psi_critical=critical)
        status, reasons = drift.classify(psi_value, missing, limits)
        rows.append(
            FeatureDrift(
                name,
                psi_value,
                statistic,
                pvalue,
                missing,
                int(ref.size),
                int(cur.size),
                status,
                warning,
                critical,
                reasons,
            )
        )
    return rows


def _largest(rows: list[FeatureDrift], attr: str) -> tuple[str, float]:
    values = {r.feature: float(getattr(r, attr)) for r in rows}
    for name, value in values.items():
        if not np.isfinite(value):
            return name, float("nan")
    name = max(values, key=lambda k: values[k])
    return name, values[name]


def psi_check(rows: list[FeatureDrift]) -> CheckResult:
    """The PSI row: the feature furthest above its own critical limit (a NaN PSI first)."""

    def limits(row: FeatureDrift) -> Limits:
        return Limits(warning=row.psi_warning, critical=row.psi_critical)

    def severity(row: FeatureDrift) -> tuple[bool, int, float]:
        level = STATUS_LEVEL[judge(row.psi, limits(row))]
        return not np.isfinite(row.psi), level, row.psi / row.psi_critical

    row = max(rows, key=severity)
    verdict = (
        f"largest PSI against its limits: {row.psi:.4f} on {row.feature} "
        f"(warning {row.psi_warning:g}, critical {row.psi_critical:g})"
    )
    detail = {r.feature: r.psi for r in rows}
    return judged("psi", row.psi, limits(row), verdict, detail)


def drift_checks(rows: list[FeatureDrift], params: Params) -> list[CheckResult]:
    """The PSI, KS and missing-rate rows (PSI limits per feature; missing-rate from ``health``)."""
    h = params.health
    out = [psi_check(rows)]
    name, value = _largest(rows, "missing_rate")
    out.append(
        judged(
            "missing_rate",
            value,
            Limits(warning=h.missing_warning, critical=h.missing_critical),
            f"largest missing_rate: {value:.4f} on {name}",
            {r.feature: r.missing_rate for r in rows},
        )
    )
    name, value = _largest(rows, "ks_statistic")
    out.insert(
        1,
        CheckResult(
            "ks",
            "ok",
            value,
            None,
            None,
            True,
            f"largest KS statistic: {value:.4f} on {name} (informs, no limit)",
            {r.feature: r.ks_statistic for r in rows},
        ),
    )
    return out


def run_checks(
    reference: pd.DataFrame,
    store: pd.DataFrame,
    labels: pd.DataFrame | None,
    bundle: ModelBundle | None,
    features: list[str],
    params: Params,
) -> HourlyResult:
    """Every hourly check of the live feature store against the model's reference.

    Args:
        reference: The training reference sample (feature columns).
        store: The feature store (``timestamp``, ``instrument``, features).
        labels: Labels (``timestamp``, ``instrument``, ``fwd_return``); None skips the
            realised side of prediction power (no verdict).
        bundle: The deployed model (None: an explicit reference table without a model; the
            model's checks then give no verdict).
        features: Feature columns to check (the model's).
        params: All params.
    """
    checks_params = params.monitoring.checks
    windows = Windows(store)
    recent = windows.latest(params.monitoring.window_bars)
    full_bars = max(feature_bars(features, params).values())
    full = windows.latest(full_bars)
    metadata = bundle.metadata if bundle is not None else None
    rows = drift_rows(reference, windows, recent, features, params, metadata)
    checks = drift_checks(rows, params)
    checks.append(ranges.outliers(reference, recent, features, checks_params.outliers))
    checks.append(ranges.value_range(reference, recent, features, checks_params.value_range))
    checks.append(correlation.correlation(reference, full, features, checks_params.correlation))
    checks.extend(model_checks(reference, store, full, labels, bundle, params))
    spans = {
        "recent": _span(recent, params.monitoring.window_bars),
        "full": _span(full, full_bars),
        "per_feature_bars": feature_bars(features, params),
    }
    return HourlyResult(rows, checks, worst(checks), spans)


def _span(frame: pd.DataFrame, bars: int) -> dict[str, Any]:
    return {
        "bars": bars,
        "rows": len(frame),
        "start": str(frame["timestamp"].min()),
        "end": str(frame["timestamp"].max()),
    }
