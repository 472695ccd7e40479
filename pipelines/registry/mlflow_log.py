"""Register stage: log the training run to MLflow, register a model version, write the candidate.

Everything MLflow does happens here, in one stage, because importing and starting MLflow is
slow. Embedded default: a SQLite store ``mlflow.db`` at the repository root; the
``MLFLOW_TRACKING_URI`` environment variable overrides it (the twin and AWS: a tracking server
whose artifact root is S3; clients reach S3 directly, ``MLFLOW_S3_ENDPOINT_URL`` selects a
non-AWS endpoint). The bundle is logged as a run artifact and its sha256 (the one digest
manifests and the service compare) is a tag on the run and on the model version.

Registration is idempotent: a bundle whose sha256 is already a version of the model returns that
version; nothing is logged and no run is created. See :mod:`pipelines.registry.candidate` for
what ``models/candidate.json`` records in each case.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from pipelines.config import Params
from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.io.gitinfo import git_commit
from pipelines.registry import tags, versions
from pipelines.registry.bundle import ModelBundle, load_bundle, sha256_file
from pipelines.registry.candidate import (
    BUNDLE_ARTIFACT,
    build_candidate,
    bundle_uri,
    candidate_schema,
    gate_report_paths,
    image_from_env,
)
from pipelines.training.train import params_hash

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
PARAMS_HASH_TAG = "params_hash"

__all__ = ["BUNDLE_ARTIFACT", "candidate_schema", "main", "tracking_uri"]


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the embedded SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys (MLflow params are flat)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def finite_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics MLflow can store (finite numbers); the rest stay in the card."""
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def _log_run(params: Params, models: Path, bundle: ModelBundle, sha256: str) -> tuple[str, str]:
    """Log a new run with the bundle and register it; return ``(version, run id)``."""
    import lightgbm
    import mlflow
    import mlflow.lightgbm
    import pandas as pd
    from mlflow.models import infer_signature

    bundle_path = models / "model_bundle.json"
    metrics = json.loads((models / "metrics.json").read_text(encoding="utf-8"))
    sample = bundle.reference if bundle.reference is not None else pd.DataFrame()
    sample = sample[bundle.feature_names].head(200)
    signature = infer_signature(sample, bundle.booster.predict(sample.to_numpy()))
    run_tags = {
        tags.DIGEST_TAG: sha256,
        tags.GIT_COMMIT_TAG: git_commit(Path.cwd()) or "",
        tags.DATA_HASH_TAG: bundle.metadata.get("data_sha256") or "",
        PARAMS_HASH_TAG: params_hash(params),
    }
    with mlflow.start_run(run_name=f"train-{sha256[:12]}", tags=run_tags) as run:
        mlflow.log_params(flatten(params.training.model_dump(), "training."))
        mlflow.log_params(flatten(bundle.metadata.get("best_params", {}), "tuned."))
        mlflow.log_metrics(finite_metrics(metrics))
        # The bundle itself: what manifests point at, and what the gates fetch as a baseline.
        mlflow.log_artifact(str(bundle_path), artifact_path=str(Path(BUNDLE_ARTIFACT).parent))
        for path in [models / "card.md", models / "card.json", models / "evaluation.json"]:
            mlflow.log_artifact(str(path), artifact_path="card")
        for png in sorted((models / "plots").glob("*.png")):
            mlflow.log_artifact(str(png), artifact_path="plots")
        for report in gate_report_paths(params):
            mlflow.log_artifact(str(report), artifact_path="gates")
        info = mlflow.lightgbm.log_model(
            bundle.booster,
            name="model",
            signature=signature,
            registered_model_name=params.training.model_name,
            pip_requirements=[f"lightgbm=={lightgbm.__version__}"],
        )
        run_id = run.info.run_id
        artifact_root = run.info.artifact_uri
    version = str(info.registered_model_version)
    client = versions.client_for(tracking_uri())
    for key, value in (
        (tags.DIGEST_TAG, sha256),
        (tags.RUN_ID_TAG, run_id),
        (tags.ARTIFACT_URI_TAG, bundle_uri(artifact_root, run_id)),
    ):
        client.set_model_version_tag(params.training.model_name, version, key, value)
    return version, run_id


def main(params: Params) -> int:
    """Register the bundle (once per digest) and write ``models/candidate.json``."""
    models = Path(params.paths.models)
    bundle_path = models / "model_bundle.json"
    for needed in (bundle_path, models / "metrics.json", models / "card.json"):
        if not needed.exists():
            raise PipelineError(
                f"{needed}: not found; run `pipelines backtest` and `pipelines card` "
                "(or `dvc repro`)"
            )
    import mlflow

    image = image_from_env()
    sha256 = sha256_file(bundle_path)
    bundle = load_bundle(bundle_path, expected_sha256=sha256)
    name = params.training.model_name
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(params.training.experiment)
    existing = versions.find_by_digest(uri, name, sha256)
    if existing is None:
        _log_run(params, models, bundle, sha256)
        # A registration racing this one on the same digest may have won: keep the oldest.
        existing = versions.find_by_digest(uri, name, sha256)
        if existing is None:  # pragma: no cover - the version was just tagged
            raise PipelineError(f"MLflow registry {uri}: the new version of {name} is missing")
        state = "registered"
    else:
        state = "already registered"
    version = str(existing.version)
    run_id = str(existing.run_id or (existing.tags or {}).get(tags.RUN_ID_TAG) or "")
    if not run_id:
        raise PipelineError(f"MLflow registry {uri}: {name} {version} names no run")
    run = versions.client_for(uri).get_run(run_id)
    run_tags = dict(run.data.tags)
    candidate = build_candidate(
        params,
        version,
        sha256,
        run_id,
        json.loads((models / "metrics.json").read_text(encoding="utf-8")),
        run_tags.get(tags.DATA_HASH_TAG) or bundle.metadata.get("data_sha256"),
        run_tags.get(tags.GIT_COMMIT_TAG) or git_commit(Path.cwd()),
        bundle_uri(run.info.artifact_uri, run_id),
        image,
        run_tags.get(PARAMS_HASH_TAG),
    )
    atomic.write_json(models / "candidate.json", candidate)
    log.info("register: %s %s version %s (run %s, sha256 %s)", state, name, version, run_id, sha256)
    if candidate["artifact"]["uri"].startswith("runs:/"):
        log.warning(
            "register: MLflow (%s) keeps artifacts on this machine; the candidate records %s, "
            "which promotion refuses (register against a tracking server with an S3 artifact "
            "root to promote)",
            uri,
            candidate["artifact"]["uri"],
        )
    return 0
