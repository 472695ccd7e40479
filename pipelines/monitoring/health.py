"""``pipelines monitor health``: the hourly check of live features against the training reference.

The reference is the sample of training features stored in the deployed model's bundle (the
artifact that the environment's manifest names, verified by its sha256), or an explicit table.
The live window is the latest ``monitoring.window_bars`` timestamps of the feature store. The
report, the textfile metrics and the exit status (0 ok, 10 warning, 20 critical) follow
:mod:`pipelines.monitoring.report`; the run itself is recorded as pipeline ``feature_health``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import yaml
from prometheus_client import CollectorRegistry

from pipelines.config import Params
from pipelines.data.store import read_store
from pipelines.delivery.actions import set_outputs
from pipelines.errors import DataError, PipelineError
from pipelines.monitoring import metric_names, pushgateway, report
from pipelines.monitoring.drift import FeatureDrift, Status
from pipelines.monitoring.textfile import (
    add_feature_health,
    add_pipeline_run,
    counts_in,
    mark_pipeline,
)
from pipelines.registry.bundle import load_bundle

log = logging.getLogger(__name__)
PIPELINE = "feature_health"


def latest_window(features: pd.DataFrame, window_bars: int) -> pd.DataFrame:
    """Rows of the latest ``window_bars`` distinct timestamps (all instruments)."""
    stamps = pd.Series(features["timestamp"].unique()).sort_values()
    cutoff = stamps.iloc[-min(window_bars, len(stamps))]
    return features.loc[features["timestamp"] >= cutoff].reset_index(drop=True)


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


def reference_from_bundle(path: Path, sha256: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The training reference and feature names stored in a bundle (digest checked if given).

    Raises:
        PipelineError: The bundle is missing, refused or holds no reference sample.
    """
    bundle = load_bundle(path, expected_sha256=sha256)
    if bundle.reference is None or bundle.reference.empty:
        raise PipelineError(f"{path}: the bundle holds no reference sample of training features")
    return bundle.reference, list(bundle.feature_names)


def main(
    params: Params,
    reference: str | None = None,
    bundle: str | None = None,
    manifest: str | None = None,
    features_path: str | None = None,
) -> int:
    """Run the hourly check; return 0, 10 or 20 (errors raise and exit 2)."""
    started = time.time()
    mon = params.monitoring
    try:
        context: dict[str, object] = {}
        if reference:
            ref = report.read_table(reference)
            context["reference"] = reference
        elif bundle:
            ref, _ = reference_from_bundle(Path(bundle), None)
            context["reference"] = f"bundle {bundle}"
        else:
            path, sha256, version = bundle_location(manifest or mon.manifest)
            ref, _ = reference_from_bundle(path, sha256)
            context.update(reference=f"bundle {path}", model_version=version)
        store = Path(features_path or params.paths.features)
        live, _meta = read_store(store)
        if live.empty:
            raise DataError(f"{store}: the feature store has no rows")
        window = latest_window(live, mon.window_bars)
        names = report.numeric_features(ref, window, str(store))
        results = report.compare(ref, window, names, params)
        context.update(
            current=str(store),
            window_bars=mon.window_bars,
            window_start=str(window["timestamp"].min()),
            window_end=str(window["timestamp"].max()),
        )
        doc = report.build_report(results, params, mon.binning, context)
        prom = Path(mon.textfile_dir) / "feature_health.prom"
        code = report.publish(doc, results, Path(mon.report), prom, latest_bar_times(live))
    except NoModelDeployed as exc:
        # Not a failure: the hourly check ran and had nothing to watch.
        sys.stderr.write(f"notice: {exc}\n")
        set_outputs({"status": "no-model"})
        _record(params, True, time.time() - started, None)
        return 0
    except PipelineError:
        _record(params, False, time.time() - started, None)
        raise
    set_outputs({"status": doc["status"]})
    _record(params, True, time.time() - started, (results, doc["status"], latest_bar_times(live)))
    return code


def _record(
    params: Params,
    success: bool,
    duration: float,
    health: tuple[list[FeatureDrift], Status, dict[str, float]] | None,
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
        add_feature_health(registry, *health)
    pushgateway.push(url, PIPELINE, environment, registry)
