"""``pipelines serve``: read the manifest and settings, then run the app under uvicorn.

SIGTERM, limits and the separate metrics port: :mod:`pipelines.serving.server`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from prometheus_client import disable_created_metrics

from pipelines.config import Params
from pipelines.errors import ConfigError
from pipelines.serving import server
from pipelines.serving.app import create_app
from pipelines.serving.source import load_manifest, read_settings

log = logging.getLogger("pipelines.serving")


def main(
    params: Params,
    manifest: str,
    settings: str | None = None,
    host: str | None = None,
    port: int | None = None,
    cache_dir: str | None = None,
    metrics_port: int | None = None,
) -> int:
    """Serve the model the manifest names until SIGTERM/SIGINT; return 0 on a clean stop.

    Args:
        params: Typed params (``serving`` section).
        manifest: ``environments/<env>/model.yaml``.
        settings: ``environments/<env>/settings.yaml``; default: beside the manifest.
        host: Listen address; default ``serving.host``.
        port: Listen port; default ``serving.port``.
        cache_dir: Where the bundle is downloaded; default ``serving.model_cache_dir``. In a
            pod it is the mounted cache volume (the root filesystem is read-only).
        metrics_port: Port of ``/metrics`` (nothing else); default ``serving.metrics_port``.
    """
    cfg = params.serving
    if cache_dir:
        cfg = cfg.model_copy(update={"model_cache_dir": cache_dir})
    settings_path = Path(settings) if settings else Path(manifest).with_name("settings.yaml")
    env_settings = read_settings(settings_path)
    instruments = env_settings.get("instruments")
    if not isinstance(instruments, list) or not all(isinstance(i, str) for i in instruments):
        raise ConfigError(f"{settings_path}: instruments: expected a list of instrument names")
    ref = load_manifest(manifest)
    # `*_created` series only add cardinality; nothing here reads them.
    disable_created_metrics()
    app = create_app(ref, instruments, cfg, Path.cwd(), manifest_name=manifest)
    server.run(app, cfg, host or cfg.host, port or cfg.port, metrics_port or cfg.metrics_port)
    log.info("stopped cleanly")
    return 0
