"""``models/candidate.json``: what the register stage hands to promotion (pure builders).

The artifact URI is where MLflow stored the bundle. With a tracking server whose artifact root
is S3 (the twin, AWS) it is that object, ``s3://...``, and promotion can deploy it. With the
embedded default (``sqlite:///mlflow.db``, artifacts in a local folder) the object's location is
a path on this machine, which must never reach a committed file: the candidate then records the
portable ``runs:/<run id>/bundle/model_bundle.json`` instead, and promotion refuses it (a pod
cannot fetch from a laptop). The image is the service image built for the training commit,
given by ``SERVICE_IMAGE`` (null when training was not told; promotion then refuses).
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema

from pipelines.config import Params
from pipelines.registry import image as images
from pipelines.training.gate_stage import ENVIRONMENTS, report_path
from pipelines.training.train import params_hash

BUNDLE_ARTIFACT = "bundle/model_bundle.json"
IMAGE_ENV = "SERVICE_IMAGE"
LOCAL_SCHEMES = ("", "file")


@cache
def candidate_schema() -> dict[str, Any]:
    """The JSON Schema of ``models/candidate.json``."""
    text = resources.files("pipelines.registry").joinpath("schemas/candidate.schema.json")
    schema: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return schema


def bundle_uri(run_artifact_uri: str, run_id: str) -> str:
    """Where the run's bundle is, without a machine path (see the module docstring)."""
    if urlparse(run_artifact_uri).scheme in LOCAL_SCHEMES:
        return f"runs:/{run_id}/{BUNDLE_ARTIFACT}"
    return f"{run_artifact_uri.rstrip('/')}/{BUNDLE_ARTIFACT}"


def image_from_env(environ: dict[str, str] | None = None) -> str | None:
    """The image built for the training commit (``SERVICE_IMAGE``), by digest, or None.

    A bare ``sha256:<hex>`` is completed with the default repository.

    Raises:
        ImageError: The variable is set but is not an image by digest.
    """
    value = (os.environ if environ is None else environ).get(IMAGE_ENV, "").strip()
    return images.normalise(value, source=IMAGE_ENV) if value else None


def build_candidate(
    params: Params,
    version: str,
    sha256: str,
    run_id: str,
    metrics: dict[str, Any],
    data_hash: str | None,
    commit: str | None,
    uri: str,
    image: str | None,
    hashed_params: str | None = None,
) -> dict[str, Any]:
    """The candidate record for promotion (validated against its schema)."""
    candidate = {
        "model_name": params.training.model_name,
        "model_version": version,
        "artifact": {
            "uri": uri,
            "sha256": sha256,
            "mlflow_uri": f"models:/{params.training.model_name}/{version}",
        },
        "image": image,
        "provenance": {
            "git_commit": commit,
            "dvc_data_hash": data_hash,
            "mlflow_run_id": run_id,
            "params_hash": hashed_params or params_hash(params),
        },
        "metrics": metrics,
        "gate_reports": {env: str(report_path(params, env)) for env in ENVIRONMENTS},
    }
    jsonschema.validate(candidate, candidate_schema())
    return candidate


def gate_report_paths(params: Params) -> list[Path]:
    """The gate reports that exist (logged with the run)."""
    return [report_path(params, env) for env in ENVIRONMENTS if report_path(params, env).exists()]
