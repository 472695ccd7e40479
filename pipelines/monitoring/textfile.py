"""Prometheus textfile exports for batch jobs (node-exporter textfile collector format).

Batch jobs (the nightly data pipeline, weekly training, the hourly feature-health check) are not
scraped while they run, so they leave ``*.prom`` files that node-exporter's textfile collector
serves. Collectors are built from :mod:`pipelines.monitoring.metric_names` only, rendered by
``prometheus_client`` and written atomically so a scrape never sees half a file.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.monitoring import metric_names as names
from pipelines.monitoring.drift import STATUS_LEVEL, FeatureDrift, Status
from pipelines.monitoring.metric_names import MetricSpec

PIPELINES = ("data", "training", "feature_health")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _gauge(spec: MetricSpec, registry: CollectorRegistry) -> Gauge:
    return Gauge(spec.name, spec.help, spec.labels, registry=registry)


def render_feature_health(
    results: list[FeatureDrift], status: Status, latest_bars: Mapping[str, float] | None = None
) -> bytes:
    """Text exposition of the per-feature figures, the overall status and data freshness.

    ``latest_bars`` maps an instrument to the Unix time of its latest stored bar.
    """
    registry = CollectorRegistry(auto_describe=True)
    add_feature_health(registry, results, status, latest_bars)
    return generate_latest(registry)


def add_feature_health(
    registry: CollectorRegistry,
    results: list[FeatureDrift],
    status: Status,
    latest_bars: Mapping[str, float] | None = None,
) -> None:
    """Add the per-feature figures and PSI limits, the overall status and freshness to ``registry``.

    A figure that is not a number (no finite values to compare) is left out rather than
    exported as NaN, so that absence is what alerting sees; the status gauge says critical.
    """
    psi = _gauge(names.FEATURE_PSI, registry)
    psi_limit = _gauge(names.FEATURE_PSI_LIMIT, registry)
    ks = _gauge(names.FEATURE_KS, registry)
    missing = _gauge(names.FEATURE_MISSING, registry)
    _gauge(names.FEATURE_HEALTH_STATUS, registry).set(STATUS_LEVEL[status])
    for result in results:
        for gauge, value in ((psi, result.psi), (ks, result.ks_statistic)):
            if value == value:  # not NaN
                gauge.labels(result.feature).set(value)
        missing.labels(result.feature).set(result.missing_rate)
        psi_limit.labels(result.feature, "warning").set(result.psi_warning)
        psi_limit.labels(result.feature, "critical").set(result.psi_critical)
    if latest_bars:
        latest = _gauge(names.DATA_LATEST_BAR, registry)
        for instrument, stamp in sorted(latest_bars.items()):
            latest.labels(instrument).set(stamp)


def previous_counts(path: Path, metric: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Counter values already in a textfile (empty when the file does not exist)."""
    if not path.exists():
        return {}
    return counts_in(path.read_text(encoding="utf-8"), metric, str(path))


def counts_in(
    text: str, metric: str, source: str, keep: tuple[str, ...] = ("pipeline", "status")
) -> dict[tuple[tuple[str, str], ...], float]:
    """Values of ``metric`` in a text exposition, keyed by their ``keep`` labels.

    Raises:
        PipelineError: ``text`` is not Prometheus text format (``source`` names it).
    """
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise PipelineError(f"{source}: not Prometheus text format ({exc})") from None
    for family in families:
        for sample in family.samples:
            if sample.name == metric:
                labels = {k: v for k, v in sample.labels.items() if k in keep}
                counts[tuple(sorted(labels.items()))] = float(sample.value)
    return counts


def render_pipeline_run(
    pipeline: str,
    success: bool,
    duration_seconds: float | None,
    now: float,
    previous: str | None,
    counts: Mapping[tuple[tuple[str, str], ...], float],
) -> bytes:
    """Text exposition of one pipeline's run outcome (see :func:`add_pipeline_run`)."""
    registry = CollectorRegistry(auto_describe=True)
    add_pipeline_run(registry, pipeline, success, duration_seconds, now, previous, counts)
    return generate_latest(registry)


def add_pipeline_run(
    registry: CollectorRegistry,
    pipeline: str,
    success: bool,
    duration_seconds: float | None,
    now: float,
    previous: str | None,
    counts: Mapping[tuple[tuple[str, str], ...], float],
) -> None:
    """Add one pipeline's run outcome to ``registry``, carrying the earlier values forward.

    Args:
        registry: Where the collectors go.
        pipeline: Pipeline name (a label value).
        success: Outcome of the run being recorded.
        duration_seconds: Wall time of the run, when known.
        now: Unix time of the outcome.
        previous: Text of the pipeline's previous file (keeps the other outcome's timestamp).
        counts: Earlier ``pipeline_runs_total`` values by label set.
    """
    last_ok = _gauge(names.PIPELINE_LAST_SUCCESS, registry)
    last_fail = _gauge(names.PIPELINE_LAST_FAILURE, registry)
    duration = _gauge(names.PIPELINE_DURATION, registry)
    runs = Counter(
        names.PIPELINE_RUNS.name,
        names.PIPELINE_RUNS.help,
        names.PIPELINE_RUNS.labels,
        registry=registry,
    )
    for family in text_string_to_metric_families(previous or ""):
        for sample in family.samples:
            if sample.name == names.PIPELINE_LAST_SUCCESS.name:
                last_ok.labels(pipeline).set(sample.value)
            elif sample.name == names.PIPELINE_LAST_FAILURE.name:
                last_fail.labels(pipeline).set(sample.value)
    (last_ok if success else last_fail).labels(pipeline).set(now)
    if duration_seconds is not None:
        duration.labels(pipeline).set(duration_seconds)
    for status in ("success", "failure"):
        earlier = counts.get((("pipeline", pipeline), ("status", status)), 0.0)
        runs.labels(pipeline, status).inc(earlier + (1 if (status == "success") == success else 0))


def check_pipeline_name(pipeline: str) -> None:
    """Raise PipelineError unless ``pipeline`` is a plain lower-case identifier."""
    if not _NAME.match(pipeline):
        raise PipelineError(f"--pipeline: expected a lower-case name like 'data', got {pipeline!r}")


def mark_pipeline(
    textfile_dir: str | Path,
    pipeline: str,
    success: bool,
    duration_seconds: float | None = None,
    now: float | None = None,
    extend: Callable[[CollectorRegistry], object] | None = None,
) -> Path:
    """Record a pipeline run's outcome in ``<textfile_dir>/pipeline_<pipeline>.prom``.

    ``extend`` adds further collectors (the run's key figures) to the same file.

    Raises:
        PipelineError: The pipeline name is not a plain lower-case identifier, or the existing
            file is not Prometheus text format.
    """
    check_pipeline_name(pipeline)
    path = Path(textfile_dir) / f"pipeline_{pipeline}.prom"
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    counts = previous_counts(path, f"{names.PIPELINE_RUNS.name}")
    registry = CollectorRegistry(auto_describe=True)
    stamp = time.time() if now is None else now
    add_pipeline_run(registry, pipeline, success, duration_seconds, stamp, previous, counts)
    if extend is not None:
        extend(registry)
    return atomic.write_bytes(path, generate_latest(registry))
