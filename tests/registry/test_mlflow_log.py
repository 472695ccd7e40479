"""Candidate record and MLflow helpers (the MLflow round trip itself is in the slow e2e test)."""

from __future__ import annotations

import math

import jsonschema
import pytest

from pipelines.config import parse_params
from pipelines.registry import mlflow_log


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


def test_candidate_follows_its_schema() -> None:
    params = parse_params({})
    candidate = mlflow_log.build_candidate(
        params, "4", "ab" * 32, "run123", {"sharpe": 0.7, "dsr": None}, "cd" * 32, "abc"
    )
    assert candidate["model_version"] == "4"
    assert candidate["artifact"] == {
        "uri": "models/model_bundle.json",
        "sha256": "ab" * 32,
        "mlflow_uri": "models:/trading-lgbm/4",
    }
    assert set(candidate["gate_reports"]) == {"dev", "staging", "prod"}
    assert len(candidate["provenance"]["params_hash"]) == 64
    with pytest.raises(jsonschema.ValidationError):
        mlflow_log.build_candidate(params, "4", "not-a-digest", "run", {}, None, None)
