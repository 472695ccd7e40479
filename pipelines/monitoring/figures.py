"""Key figures of a pipeline run, read from the files the run wrote, as Prometheus gauges.

The data run reports how many bars it ingested and set aside and the largest PSI of its health
check; the training run reports the model version it registered and each environment's gate
verdict. A file a failed run did not write is skipped (its figure is absent, not zero), and a
file that exists but cannot be read is an error naming it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from pipelines.config import Params
from pipelines.errors import PipelineError
from pipelines.monitoring import metric_names as names
from pipelines.monitoring.metric_names import MetricSpec


def _read(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PipelineError(f"{path}: expected a JSON object")
    return doc


def _number(doc: dict[str, Any], path: Path, *keys: str) -> float | None:
    value: Any = doc
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if value is None:  # not computed (e.g. PSI on the first run, with no previous snapshot)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PipelineError(f"{path}: {'.'.join(keys)}: expected a number, got {value!r}")
    return float(value)


def _gauge(registry: CollectorRegistry, spec: MetricSpec) -> Gauge:
    return Gauge(spec.name, spec.help, spec.labels, registry=registry)


def data_figures(params: Params) -> list[tuple[MetricSpec, tuple[str, ...], float]]:
    """Rows ingested and quarantined, and the largest data-health PSI (pure reads)."""
    out: list[tuple[MetricSpec, tuple[str, ...], float]] = []
    state_path = Path(params.paths.ingest_state)
    state = _read(state_path)
    if state is not None:
        appended = _number(state, state_path, "last_run", "appended")
        revisions = _number(state, state_path, "last_run", "revisions")
        if appended is not None:
            out.append((names.DATA_ROWS_INGESTED, (), appended))
        if revisions is not None:
            out.append((names.DATA_ROWS_QUARANTINED, ("ingest",), revisions))
    validation_path = Path(params.paths.validation_report)
    validation = _read(validation_path)
    if validation is not None:
        rejected = _number(validation, validation_path, "rows_quarantined")
        if rejected is not None:
            out.append((names.DATA_ROWS_QUARANTINED, ("validate",), rejected))
    health_path = Path(params.paths.health_report)
    health = _read(health_path)
    if health is not None:
        psis = [
            _number(v, health_path, "psi")
            for v in (health.get("features") or {}).values()
            if isinstance(v, dict)
        ]
        finite = [p for p in psis if p is not None and math.isfinite(p)]
        if finite:
            out.append((names.DATA_HEALTH_PSI_MAX, (), max(finite)))
    return out


def training_figures(params: Params) -> list[tuple[MetricSpec, tuple[str, ...], float]]:
    """The registered model version and each environment's gate verdict (pure reads)."""
    out: list[tuple[MetricSpec, tuple[str, ...], float]] = []
    candidate_path = Path(params.delivery.candidate)
    candidate = _read(candidate_path)
    if candidate is not None and candidate.get("model_version") is not None:
        labels = (str(candidate.get("model_name", "")), str(candidate["model_version"]))
        out.append((names.TRAINING_CANDIDATE, labels, 1.0))
    for env in params.delivery.environments:
        path = Path(params.paths.reports) / "gates" / f"{env}.json"
        report = _read(path)
        if report is not None and "verdict" in report:
            out.append((names.TRAINING_GATE_PASSED, (env,), float(report["verdict"] == "pass")))
    return out


def add_figures(registry: CollectorRegistry, pipeline: str, params: Params) -> int:
    """Add the pipeline's key figures to ``registry``; return how many series were added."""
    readers = {"data": data_figures, "training": training_figures}
    reader = readers.get(pipeline)
    if reader is None:
        return 0
    figures = reader(params)
    gauges: dict[str, Gauge] = {}
    for spec, labels, value in figures:
        gauge = gauges.get(spec.name) or gauges.setdefault(spec.name, _gauge(registry, spec))
        (gauge.labels(*labels) if labels else gauge).set(value)
    return len(figures)
