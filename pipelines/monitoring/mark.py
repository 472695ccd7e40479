"""``pipelines monitor mark``: record a pipeline run's outcome for Prometheus (textfile)."""

from __future__ import annotations

import logging

from pipelines.config import Params
from pipelines.monitoring.textfile import mark_pipeline

log = logging.getLogger(__name__)


def main(params: Params, pipeline: str, status: str, duration: float | None = None) -> int:
    """Write ``pipeline_<name>.prom`` for a run that ended with ``status``; return 0."""
    path = mark_pipeline(params.monitoring.textfile_dir, pipeline, status == "success", duration)
    log.info("marked pipeline %s %s in %s", pipeline, status, path)
    return 0
