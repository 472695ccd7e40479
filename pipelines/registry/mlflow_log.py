"""Register stage: log the training run to MLflow, register a model version, write the candidate.

Everything MLflow does happens here, in one stage, because importing and starting MLflow is
slow. Embedded default: a SQLite store ``mlflow.db`` at the repository root; the
``MLFLOW_TRACKING_URI`` environment variable overrides it. The bundle's sha256 (the one digest
manifests and the service compare) is recorded as a tag on the run and on the model version.
"""

from __future__ import annotations

import json
import logging
import math
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from pipelines.config import Params
from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.registry.bundle import load_bundle, sha256_file
from pipelines.training.gate_stage import ENVIRONMENTS, git_commit, report_path
from pipelines.training.train import params_hash

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DIGEST_TAG = "bundle_sha256"
BUNDLE_ARTIFACT = "bundle/model_bundle.json"


@cache
def candidate_schema() -> dict[str, Any]:
    """The JSON Schema of ``models/candidate.json``."""
    text = resources.files("pipelines.training").joinpath("schemas/candidate.schema.json")
    schema: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return schema


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


def build_candidate(
    params: Params,
    version: str,
    sha256: str,
    run_id: str,
    metrics: dict[str, Any],
    data_hash: str | None,
    commit: str | None,
) -> dict[str, Any]:
    """The candidate record for promotion (validated against its schema)."""
    models = Path(params.paths.models)
    candidate = {
        "model_name": params.training.model_name,
        "model_version": version,
        "artifact": {
            "uri": str(models / "model_bundle.json"),
            "sha256": sha256,
            "mlflow_uri": f"models:/{params.training.model_name}/{version}",
        },
        "provenance": {
            "git_commit": commit,
            "dvc_data_hash": data_hash,
            "mlflow_run_id": run_id,
            "params_hash": params_hash(params),
        },
        "metrics": metrics,
        "gate_reports": {env: str(report_path(params, env)) for env in ENVIRONMENTS},
    }
    jsonschema.validate(candidate, candidate_schema())
    return candidate


def main(params: Params) -> int:
    """Log params, metrics, card, plots and the model; register a version; write the candidate."""
    models = Path(params.paths.models)
    bundle_path = models / "model_bundle.json"
    for needed in (bundle_path, models / "metrics.json", models / "card.json"):
        if not needed.exists():
            raise PipelineError(
                f"{needed}: not found; run `pipelines backtest` and `pipelines card` "
                "(or `dvc repro`)"
            )
    import mlflow
    import mlflow.lightgbm
    import pandas as pd
    from mlflow.models import infer_signature

    sha256 = sha256_file(bundle_path)
    bundle = load_bundle(bundle_path, expected_sha256=sha256)
    metrics = json.loads((models / "metrics.json").read_text(encoding="utf-8"))
    data_hash = bundle.metadata.get("data_sha256")
    commit = git_commit(Path.cwd())
    name = params.training.model_name
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(params.training.experiment)
    sample = bundle.reference if bundle.reference is not None else pd.DataFrame()
    sample = sample[bundle.feature_names].head(200)
    signature = infer_signature(sample, bundle.booster.predict(sample.to_numpy()))
    tags = {DIGEST_TAG: sha256, "git_commit": commit or "", "data_sha256": data_hash or ""}
    with mlflow.start_run(run_name=f"train-{sha256[:12]}", tags=tags) as run:
        mlflow.log_params(flatten(params.training.model_dump(), "training."))
        mlflow.log_params(flatten(bundle.metadata.get("best_params", {}), "tuned."))
        mlflow.log_metrics(finite_metrics(metrics))
        # The bundle itself: the gates fetch a deployed baseline from here by run id.
        mlflow.log_artifact(str(bundle_path), artifact_path=str(Path(BUNDLE_ARTIFACT).parent))
        for path in [models / "card.md", models / "card.json", models / "evaluation.json"]:
            mlflow.log_artifact(str(path), artifact_path="card")
        for png in sorted((models / "plots").glob("*.png")):
            mlflow.log_artifact(str(png), artifact_path="plots")
        for env in ENVIRONMENTS:
            if report_path(params, env).exists():
                mlflow.log_artifact(str(report_path(params, env)), artifact_path="gates")
        import lightgbm

        info = mlflow.lightgbm.log_model(
            bundle.booster,
            name="model",
            signature=signature,
            registered_model_name=name,
            pip_requirements=[f"lightgbm=={lightgbm.__version__}"],
        )
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_model_version_tag(name, version, DIGEST_TAG, sha256)
    client.set_model_version_tag(name, version, "mlflow_run_id", run_id)
    candidate = build_candidate(params, version, sha256, run_id, metrics, data_hash, commit)
    atomic.write_json(models / "candidate.json", candidate)
    log.info("register: %s version %s (run %s, sha256 %s)", name, version, run_id, sha256)
    return 0
