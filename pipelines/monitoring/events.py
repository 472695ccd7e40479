"""Textfile metrics for delivery events: deployments, promotions and the weekly report.

The deploy workflow, the promotion and the weekly training run call ``pipelines monitor event``
so that the ``ModelDeploymentFailed``, ``DeploymentCompleted``, ``ModelPromotedToStaging`` and
``WeeklyPerformanceReport`` alerts have something to read. One file per environment (or one for
the report) keeps the latest success and failure side by side, so a failure can be compared
with the last success of another version.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.monitoring import incidents, pushgateway
from pipelines.monitoring import metric_names as names
from pipelines.monitoring.metric_names import MetricSpec
from pipelines.monitoring.success import add_deployment_count, build_rollback

Kind = Literal["deployment", "promotion", "report", "rollback"]
_LABEL = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _carried(previous: str | None, spec: MetricSpec) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(previous or ""):
        for sample in family.samples:
            if sample.name == spec.name:
                out[tuple(sample.labels[k] for k in spec.labels)] = float(sample.value)
    return out


def render_event(
    kind: Kind,
    environment: str,
    version: str,
    success: bool,
    now: float,
    previous: str | None,
    seconds: float = 0.0,
) -> bytes:
    """Text exposition after one event (see :func:`build_event`)."""
    return generate_latest(build_event(kind, environment, version, success, now, previous, seconds))


def build_event(
    kind: Kind,
    environment: str,
    version: str,
    success: bool,
    now: float,
    previous: str | None,
    seconds: float = 0.0,
) -> CollectorRegistry:
    """The collectors after one event, keeping only the newest series per gauge.

    Args:
        kind: ``deployment``, ``promotion``, ``report`` or ``rollback``.
        environment: Environment label (ignored for ``report``).
        version: Model version label (ignored for ``report``).
        success: Outcome of a deployment (promotions and reports are successes).
        now: Unix time of the event.
        previous: Text of the file before this event.
        seconds: Duration of a rollback (``rollback`` only).
    """
    if kind == "rollback":
        return build_rollback(previous, environment, seconds)
    registry = CollectorRegistry(auto_describe=True)
    if kind == "report":
        Gauge(names.PERFORMANCE_REPORT.name, names.PERFORMANCE_REPORT.help, registry=registry).set(
            now
        )
        return registry
    specs = (
        [names.DEPLOYMENT_LAST_SUCCESS, names.DEPLOYMENT_LAST_FAILURE]
        if kind == "deployment"
        else [names.PROMOTION_TIMESTAMP]
    )
    target = specs[0] if success or kind == "promotion" else specs[1]
    if kind == "deployment":
        add_deployment_count(registry, previous, environment, success)
    for spec in specs:
        gauge = Gauge(spec.name, spec.help, spec.labels, registry=registry)
        if spec is target:
            gauge.labels(environment, version).set(now)
            continue
        earlier = _carried(previous, spec)
        if earlier:
            labels, value = max(earlier.items(), key=lambda item: item[1])
            gauge.labels(*labels).set(value)
    return registry


def mark_event(
    textfile_dir: str | Path,
    kind: Kind,
    environment: str = "",
    version: str = "",
    success: bool = True,
    now: float | None = None,
    seconds: float = 0.0,
) -> str:
    """Record an event in ``<textfile_dir>/<kind>_<environment>.prom`` (atomic).

    With ``PUSHGATEWAY_URL`` set the event is pushed instead, to the group ``pipeline=<kind>``,
    ``environment=<environment>`` (``environment`` of the report is ``PIPELINES_ENVIRONMENT``),
    Returns the file written, or the gateway group's URL.

    Raises:
        PipelineError: A label needed by the kind is missing or has characters other than
            letters, digits and ``_.:-``.
    """
    if kind != "report":
        labelled = (
            (("--env", environment),)
            if kind == "rollback"
            else (
                ("--env", environment),
                ("--model-version", version),
            )
        )
        for field, value in labelled:
            if not _LABEL.match(value):
                raise PipelineError(f"{field}: expected letters, digits or _.:-, got {value!r}")
    stamp = time.time() if now is None else now
    url = pushgateway.gateway_url()
    if url is not None:
        group_env = pushgateway.environment_label(environment if kind != "report" else None)
        previous_text = pushgateway.group_text(url, kind, group_env)
        registry = build_event(kind, environment, version, success, stamp, previous_text, seconds)
        pushgateway.push(url, kind, group_env, registry)
        if kind == "deployment" and success:
            incidents.after_deployment_success(url, group_env, previous_text, stamp)
        return f"{url}/metrics/job/{pushgateway.JOB}/pipeline/{kind}/environment/{group_env}"
    name = "performance_report" if kind == "report" else f"{kind}_{environment}"
    path = Path(textfile_dir) / f"{name}.prom"
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    text = render_event(kind, environment, version, success, stamp, previous, seconds)
    return str(atomic.write_bytes(path, text))
