"""``pipelines monitor mark``: record a pipeline run's outcome, duration and key figures.

With ``PUSHGATEWAY_URL`` set (CI runners, Argo pods) the run is pushed to the Pushgateway in
its group (``job=pipelines``, ``pipeline``, ``environment``); otherwise it is written as a
textfile for node-exporter (local runs). Either way the previous outcome's timestamp and the
run counters are carried forward, so one failure never hides the last success.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry

from pipelines.config import Params
from pipelines.errors import PipelineError
from pipelines.monitoring import figures, incidents, pushgateway
from pipelines.monitoring import metric_names as names
from pipelines.monitoring.textfile import (
    add_pipeline_run,
    check_pipeline_name,
    counts_in,
    mark_pipeline,
)

log = logging.getLogger(__name__)


def duration_since(started_at: float | None, now: float) -> float | None:
    """Seconds since ``started_at`` (Unix time), or None when it is unknown.

    Raises:
        PipelineError: ``started_at`` lies in the future (a wrong clock or a wrong value).
    """
    if started_at is None:
        return None
    if started_at > now + 60:
        raise PipelineError(f"--started-at {started_at:.0f} is in the future (now {now:.0f})")
    return max(0.0, now - started_at)


def push_run(
    url: str,
    params: Params,
    pipeline: str,
    environment: str,
    success: bool,
    duration: float | None,
    now: float,
) -> int:
    """Push the run (outcome, duration, counters, key figures) to its group; return the figures."""
    previous = pushgateway.group_text(url, pipeline, environment)
    counts = counts_in(previous, names.PIPELINE_RUNS.name, f"{url} group {pipeline}")
    registry = CollectorRegistry(auto_describe=True)
    add_pipeline_run(registry, pipeline, success, duration, now, previous, counts)
    added = figures.add_figures(registry, pipeline, params)
    pushgateway.push(url, pipeline, environment, registry)
    if success:
        incidents.after_pipeline_success(url, environment, pipeline, previous, now)
    return added


def main(
    params: Params,
    pipeline: str,
    status: str,
    duration: float | None = None,
    *,
    started_at: float | None = None,
    environment: str | None = None,
) -> int:
    """Record a run that ended with ``status``; return 0.

    Raises:
        PipelineError: Bad pipeline or environment name, a start time in the future, or a
            Pushgateway that cannot be reached (the run's outcome must not be lost silently).
    """
    check_pipeline_name(pipeline)
    now = time.time()
    took = duration if duration is not None else duration_since(started_at, now)
    success = status == "success"
    url = pushgateway.gateway_url()
    if url is None:
        path = mark_pipeline(
            params.monitoring.textfile_dir,
            pipeline,
            success,
            took,
            now,
            extend=lambda registry: figures.add_figures(registry, pipeline, params),
        )
        log.info("marked pipeline %s %s in %s", pipeline, status, path)
        return 0
    env = pushgateway.environment_label(environment)
    added = push_run(url, params, pipeline, env, success, took, now)
    log.info(
        "pushed pipeline %s %s (%s, %d figure(s)) to %s",
        pipeline,
        status,
        "duration unknown" if took is None else f"{took:.0f}s",
        added,
        url,
    )
    return 0
