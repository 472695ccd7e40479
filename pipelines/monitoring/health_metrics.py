"""Prometheus series of the hourly checks (textfile or Pushgateway), from ``metric_names`` only.

Besides the per-feature PSI, KS and missing rate (:func:`textfile.add_feature_health`), every
check exports its status and figure, and the per-feature or per-instrument figures its panel
draws. A figure that is not a number is left out (absence is what the panels show); the status
gauge carries the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from pipelines.monitoring import metric_names as names
from pipelines.monitoring.checks import CheckResult
from pipelines.monitoring.drift import STATUS_LEVEL
from pipelines.monitoring.hourly import HourlyResult
from pipelines.monitoring.metric_names import MetricSpec
from pipelines.monitoring.textfile import add_feature_health


def _gauge(spec: MetricSpec, registry: CollectorRegistry) -> Gauge:
    return Gauge(spec.name, spec.help, spec.labels, registry=registry)


def _set(gauge: Gauge, labels: tuple[str, ...], value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        gauge.labels(*labels).set(float(value))


def add_checks(registry: CollectorRegistry, checks: list[CheckResult]) -> None:
    """Status and figure of every check, and the series each check's panel draws."""
    status = _gauge(names.FEATURE_HEALTH_CHECK_STATUS, registry)
    value = _gauge(names.FEATURE_HEALTH_CHECK_VALUE, registry)
    by_name = {c.check: c for c in checks}
    for check in checks:
        status.labels(check.check).set(STATUS_LEVEL[check.status])
        _set(value, (check.check,), check.value)
    _per_feature(registry, names.FEATURE_OUTLIER_SHARE, by_name.get("outliers"), "share")
    _per_feature(
        registry, names.FEATURE_OUT_OF_RANGE_SHARE, by_name.get("value_range"), "share_outside"
    )
    importance = by_name.get("importance")
    if importance is not None and importance.detail:
        gauge = _gauge(names.FEATURE_IMPORTANCE_SHARE, registry)
        for sample in ("live", "reference"):
            for feature, share in importance.detail[sample].items():
                _set(gauge, (feature, sample), share)
    power = by_name.get("prediction_power")
    if power is not None:
        _power(registry, power.detail)


def _per_feature(
    registry: CollectorRegistry, spec: MetricSpec, check: CheckResult | None, key: str
) -> None:
    if check is None:
        return
    gauge = _gauge(spec, registry)
    for feature, row in check.detail.get("features", {}).items():
        _set(gauge, (feature,), row[key])


def _power(registry: CollectorRegistry, detail: Mapping[str, Any]) -> None:
    pairs = (
        (names.MODEL_BACKTEST_IC, names.MODEL_BACKTEST_HIT_RATE, detail.get("backtest")),
        (names.MODEL_PREDICTION_IC, names.MODEL_PREDICTION_HIT_RATE, detail.get("live")),
    )
    for ic_spec, hit_spec, figures in pairs:
        if not figures:
            continue
        ic, hits = _gauge(ic_spec, registry), _gauge(hit_spec, registry)
        _set(ic, ("all",), figures.get("ic"))
        _set(hits, ("all",), figures.get("hit_rate"))
        for instrument, row in (figures.get("by_instrument") or {}).items():
            _set(ic, (instrument,), row.get("ic"))
            _set(hits, (instrument,), row.get("hit_rate"))


def add_health(
    registry: CollectorRegistry, result: HourlyResult, latest_bars: Mapping[str, float]
) -> None:
    """Everything the hourly check exports."""
    add_feature_health(registry, result.features, result.status, latest_bars)
    add_checks(registry, result.checks)


def render_health(result: HourlyResult, latest_bars: Mapping[str, float]) -> bytes:
    """Text exposition of everything the hourly check exports."""
    registry = CollectorRegistry(auto_describe=True)
    add_health(registry, result, latest_bars)
    return generate_latest(registry)
