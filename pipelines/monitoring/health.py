"""``pipelines monitor health``: the hourly check of live features against the deployed model.

The model is the one the environment's manifest deploys, wherever its artifact lives (``s3://``
in the twin and in AWS, or a path), downloaded and refused unless its sha256 is the manifest's.
Its bundle carries the training reference (a sample of the last year of its training span) and
the backtest's prediction power. The checks are in :mod:`pipelines.monitoring.hourly`; the JSON
report has one row per check plus the per-feature drift figures; the metrics go to the
Pushgateway (``PUSHGATEWAY_URL``) or a textfile; the exit status is 0 ok, 10 warning,
20 critical. While no model is deployed (``model: null``) it prints a notice and exits 0. The
run itself is recorded as pipeline ``feature_health``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import yaml
from prometheus_client import CollectorRegistry

from pipelines.config import Params
from pipelines.data.store import read_store
from pipelines.delivery.actions import set_outputs
from pipelines.errors import DataError, PipelineError
from pipelines.io import atomic
from pipelines.monitoring import health_metrics, hourly, metric_names, pushgateway, report
from pipelines.monitoring.hourly import HourlyResult
from pipelines.monitoring.textfile import add_pipeline_run, counts_in, mark_pipeline
from pipelines.registry.bundle import ModelBundle, load_bundle

log = logging.getLogger(__name__)
PIPELINE = "feature_health"


def latest_bar_times(features: pd.DataFrame) -> dict[str, float]:
    """Unix time of each instrument's latest row in the feature store (data freshness)."""
    latest = pd.to_datetime(features.groupby("instrument")["timestamp"].max(), utc=True)
    return {str(k): v.timestamp() for k, v in latest.items()}


class NoModelDeployed(PipelineError):
    """The manifest names no model (``model: null``): there is nothing to compare against."""

    exit_code = 0


def bundle_location(
    manifest_path: str | Path, cache_dir: Path | None = None
) -> tuple[Path, str, str]:
    """Local path, sha256 and version of the model a manifest names.

    An ``s3://`` artifact is downloaded into ``cache_dir`` first (its digest is checked when the
    bundle is loaded).

    Raises:
        NoModelDeployed: The manifest says ``model: null``.
        PipelineError: The manifest is missing or invalid, or the artifact cannot be fetched.
    """
    file = Path(manifest_path)
    if not file.exists():
        raise PipelineError(f"{file}: manifest not found")
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise PipelineError(f"{file}: not valid YAML") from None
    model = doc.get("model") if isinstance(doc, dict) else None
    if not model:
        raise NoModelDeployed(
            f"{file}: no model deployed (model: null); nothing to compare the features against"
        )
    try:
        uri, sha256 = str(model["artifact"]["uri"]), str(model["artifact"]["sha256"])
    except (KeyError, TypeError):
        raise PipelineError(
            f"{file}: model.artifact.uri and model.artifact.sha256 expected"
        ) from None
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        from pipelines.delivery.artifact import fetch

        folder = cache_dir or Path(".cache") / "feature-health"
        target = folder / f"bundle-{sha256[:16]}.json"
        return fetch(uri, target, Path.cwd()), sha256, str(model.get("version"))
    if parsed.scheme not in ("", "file"):
        raise PipelineError(
            f"{file}: artifact {uri}: expected an s3:// URI, a file:// URI or a local path"
        )
    return Path(parsed.path if parsed.scheme == "file" else uri), sha256, str(model.get("version"))


def deployed_bundle(path: Path, sha256: str | None) -> ModelBundle:
    """The bundle (digest checked when given), which must hold a reference sample.

    Raises:
        PipelineError: The bundle is missing, refused or holds no reference sample.
    """
    bundle = load_bundle(path, expected_sha256=sha256)
    if bundle.reference is None or bundle.reference.empty:
        raise PipelineError(f"{path}: the bundle holds no reference sample of training features")
    return bundle


def read_labels(path: Path) -> pd.DataFrame | None:
    """The labels table, or None when it is absent (prediction power then has no verdict)."""
    if not path.exists():
        log.warning("%s: no labels; prediction power gets no verdict", path)
        return None
    try:
        return pd.read_parquet(path, columns=["timestamp", "instrument", "fwd_return"])
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a labels table with fwd_return ({exc})") from None


def build_report(result: HourlyResult, params: Params, context: dict[str, Any]) -> dict[str, Any]:
    """The JSON report: status, exit code, context, one row per check, per-feature figures."""
    mon = params.monitoring
    return {
        "status": result.status,
        "exit_code": report.EXIT_CODES[result.status],
        "thresholds": report.thresholds(params).__dict__,
        "binning": mon.binning,
        "n_bins": mon.n_bins if mon.binning == "quantile" else None,
        "epsilon": mon.epsilon if mon.binning == "quantile" else None,
        **context,
        "windows": result.windows,
        "checks": [c.as_dict() for c in result.checks],
        "features": [r.as_dict() for r in result.features],
    }


def _load(
    params: Params, reference: str | None, bundle: str | None, manifest: str | None
) -> tuple[pd.DataFrame, ModelBundle | None, dict[str, Any]]:
    context: dict[str, Any] = {}
    model: ModelBundle | None = None
    if bundle:
        model = deployed_bundle(Path(bundle), None)
        context["reference"] = f"bundle {bundle}"
    elif manifest or not reference:
        path, sha256, version = bundle_location(manifest or params.monitoring.manifest)
        model = deployed_bundle(path, sha256)
        context.update(reference=f"bundle {path}", model_version=version, model_sha256=sha256)
    if model is not None:
        context["reference_window"] = model.metadata.get("reference")
        context["train_span"] = model.metadata.get("train_span")
    if reference:
        context["reference"] = reference
        return report.read_table(reference), model, context
    assert model is not None and model.reference is not None  # noqa: S101 - deployed_bundle checked
    return model.reference, model, context


def main(
    params: Params,
    reference: str | None = None,
    bundle: str | None = None,
    manifest: str | None = None,
    features_path: str | None = None,
    labels_path: str | None = None,
) -> int:
    """Run the hourly check; return 0, 10 or 20 (errors raise and exit 2)."""
    started = time.time()
    mon = params.monitoring
    try:
        ref, model, context = _load(params, reference, bundle, manifest)
        store = Path(features_path or params.paths.features)
        live, _meta = read_store(store)
        if live.empty:
            raise DataError(f"{store}: the feature store has no rows")
        names = report.numeric_features(ref, live, str(store))
        labels = read_labels(Path(labels_path or params.paths.labels))
        result = hourly.run_checks(ref, live, labels, model, names, params)
        context.update(current=str(store), window_bars=mon.window_bars)
        doc = build_report(result, params, context)
        freshness = latest_bar_times(live)
        atomic.write_json(Path(mon.report), doc)
        prom = Path(mon.textfile_dir) / "feature_health.prom"
        atomic.write_bytes(prom, health_metrics.render_health(result, freshness))
    except NoModelDeployed as exc:
        # Not a failure: the hourly check ran and had nothing to watch.
        sys.stderr.write(f"notice: {exc}\n")
        set_outputs({"status": "no-model"})
        _record(params, True, time.time() - started, None)
        return 0
    except PipelineError:
        _record(params, False, time.time() - started, None)
        raise
    for check in result.checks:
        if check.status != "ok":
            log.warning("%s: %s (%s)", check.check, check.status, check.verdict)
    log.info("feature health: %s; report %s, metrics %s", result.status, mon.report, prom)
    set_outputs({"status": result.status})
    _record(params, True, time.time() - started, (result, freshness))
    return report.EXIT_CODES[result.status]


def _record(
    params: Params,
    success: bool,
    duration: float,
    health: tuple[HourlyResult, dict[str, float]] | None,
) -> None:
    """Record the run (and its figures) on the Pushgateway when configured, else as textfiles."""
    url = pushgateway.gateway_url()
    if url is None:
        mark_pipeline(params.monitoring.textfile_dir, PIPELINE, success, duration)
        return
    environment = pushgateway.environment_label(None)
    previous = pushgateway.group_text(url, PIPELINE, environment)
    registry = CollectorRegistry(auto_describe=True)
    counts = counts_in(previous, metric_names.PIPELINE_RUNS.name, f"{url} group {PIPELINE}")
    add_pipeline_run(registry, PIPELINE, success, duration, time.time(), previous, counts)
    if health is not None:
        health_metrics.add_health(registry, *health)
    pushgateway.push(url, PIPELINE, environment, registry)
