"""Candidate record and MLflow helpers (the MLflow round trip itself is in the slow e2e test)."""

from __future__ import annotations

import math

import jsonschema
import pytest

from pipelines.config import parse_params
from pipelines.registry import candidate as candidates
from pipelines.registry import mlflow_log
from pipelines.registry.image import ImageError


def test_tracking_uri_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert mlflow_log.tracking_uri() == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert mlflow_log.tracking_uri() == "http://127.0.0.1:5000"


def test_flatten_and_finite_metrics() -> None:
    assert mlflow_log.flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": 2}) == {
        "a.b": 1,
        "a.c.d": "x",
        "e": 2,
    }
    kept = mlflow_log.finite_metrics({"s": 1.5, "n": math.nan, "m": None, "b": True, "i": 3})
    assert kept == {"s": 1.5, "i": 3.0}


IMAGE = "ghcr.io/trading-pipelines/strategy-service@sha256:" + "12" * 32
S3_ROOT = "s3://bucket/1/run123/artifacts"


def test_candidate_follows_its_schema() -> None:
    params = parse_params({})
    uri = candidates.bundle_uri(S3_ROOT, "run123")
    candidate = candidates.build_candidate(
        params, "4", "ab" * 32, "run123", {"sharpe": 0.7, "dsr": None}, "cd" * 32, "abc", uri, IMAGE
    )
    assert candidate["model_version"] == "4" and candidate["image"] == IMAGE
    assert candidate["artifact"] == {
        "uri": "s3://bucket/1/run123/artifacts/bundle/model_bundle.json",
        "sha256": "ab" * 32,
        "mlflow_uri": "models:/trading-lgbm/4",
    }
    assert set(candidate["gate_reports"]) == {"dev", "staging", "prod"}
    assert len(candidate["provenance"]["params_hash"]) == 64
    with pytest.raises(jsonschema.ValidationError):
        candidates.build_candidate(params, "4", "not-a-digest", "run", {}, None, None, uri, None)
    # A machine path never reaches a committed candidate.
    with pytest.raises(jsonschema.ValidationError):
        candidates.build_candidate(
            params, "4", "ab" * 32, "r", {}, None, None, "file:///home/me/mlruns/b.json", None
        )


def test_bundle_uri_has_no_machine_path_with_the_embedded_default() -> None:
    assert candidates.bundle_uri("file:///home/me/repo/mlruns/1/r1/artifacts", "r1") == (
        "runs:/r1/bundle/model_bundle.json"
    )
    assert candidates.bundle_uri("/home/me/repo/mlruns/1/r1/artifacts", "r1").startswith("runs:/")
    assert candidates.bundle_uri(S3_ROOT + "/", "run123") == (S3_ROOT + "/bundle/model_bundle.json")


def test_image_from_environment() -> None:
    assert candidates.image_from_env({}) is None
    assert candidates.image_from_env({"SERVICE_IMAGE": IMAGE}) == IMAGE
    assert candidates.image_from_env({"SERVICE_IMAGE": "sha256:" + "12" * 32}) == IMAGE
    with pytest.raises(ImageError, match="SERVICE_IMAGE: .* is not an image by digest"):
        candidates.image_from_env({"SERVICE_IMAGE": "ghcr.io/x/y:main"})
    with pytest.raises(ImageError, match="all-zero digest"):
        candidates.image_from_env({"SERVICE_IMAGE": "sha256:" + "0" * 64})
