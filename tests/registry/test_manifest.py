"""Model manifest schema, parsing and atomic writes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pipelines.registry.manifest import (
    ManifestError,
    artifact_store_problem,
    empty_manifest,
    parse_manifest,
    read_manifest,
    render_manifest,
    write_manifest,
)

REPO = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/trading-pipelines/strategy-service@sha256:" + "ef" * 32

MODEL: dict[str, Any] = {
    "name": "strategy-lgbm",
    "version": "3",
    "artifact": {"uri": "s3://models/strategy-lgbm/3/bundle.json", "sha256": "ab" * 32},
    "provenance": {
        "git_commit": "0123abc",
        "dvc_data_hash": "md5:1",
        "mlflow_run_id": "r",
        "params_hash": "p",
    },
    "evaluation": {
        "metrics": {"sharpe": 2.3, "win_rate": 0.56},
        "gate": {"verdict": "pass", "report_sha256": "cd" * 32},
    },
    "promotion": {"from": "staging", "at": "2026-11-27T01:00:00Z", "by": "ci", "reason": "gate"},
}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_repository_manifests_are_valid(env: str) -> None:
    doc = read_manifest(REPO / "environments" / env / "model.yaml")
    assert doc["environment"] == env


def test_nothing_deployed_is_valid_and_round_trips(tmp_path: Path) -> None:
    target = tmp_path / "model.yaml"
    write_manifest(target, empty_manifest("dev"))
    assert read_manifest(target) == empty_manifest("dev")
    assert list(tmp_path.iterdir()) == [target]


def test_full_manifest_round_trips() -> None:
    doc = empty_manifest("prod") | {"model": MODEL, "image": IMAGE}
    assert parse_manifest(render_manifest(doc)) == doc


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_repository_manifests_are_kustomize_resources_deploying_nothing(env: str) -> None:
    doc = read_manifest(REPO / "environments" / env / "model.yaml")
    assert doc["metadata"]["annotations"] == {"config.kubernetes.io/local-config": "true"}
    assert doc["model"] is None and doc["image"].endswith("@sha256:" + "0" * 64)


@pytest.mark.parametrize(
    ("image", "model", "message"),
    [
        ("ghcr.io/trading-pipelines/strategy-service:main", None, "image: .* does not match"),
        ("strategy-service@sha256:" + "ab" * 32, None, "image: .* does not match"),
        (IMAGE.replace("ef", "EF"), None, "image: .* does not match"),
        (IMAGE, None, "expected the all-zero digest .* when model is null"),
        (empty_manifest("prod")["image"], MODEL, "the all-zero digest names no image"),
    ],
)
def test_image_rules(image: str, model: Any, message: str) -> None:
    import yaml

    text = yaml.safe_dump(empty_manifest("prod") | {"model": model, "image": image})
    with pytest.raises(ManifestError, match=message):
        parse_manifest(text, "m.yaml")


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("s3://mlflow-artifacts/1/abc/artifacts/bundle/model_bundle.json", None),
        ("models/model_bundle.json", "is a path, not an object in the artifact store"),
        ("file:///home/me/mlruns/bundle.json", "not in the artifact store"),
        ("runs:/abc/bundle/model_bundle.json", "embedded MLflow's local store"),
        ("s3://bucket-only", "expected s3://<bucket>/<key>"),
    ],
)
def test_artifact_store_problem(uri: str, problem: str | None) -> None:
    found = artifact_store_problem(uri)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m["artifact"].update(sha256="xyz"), "model.artifact.sha256"),
        (lambda m: m["artifact"].update(sha256="AB" * 32), "model.artifact.sha256"),
        (lambda m: m["artifact"].update(sha256="ab" * 31), "model.artifact.sha256"),
        (lambda m: m["artifact"].update(uri="models/model_bundle.json"), "model.artifact.uri"),
        (lambda m: m["provenance"].pop("mlflow_run_id"), "'mlflow_run_id' is a required"),
        (lambda m: m["evaluation"]["gate"].update(verdict="fail"), "model.evaluation.gate.verdict"),
        (lambda m: m["promotion"].update(at="yesterday"), "model.promotion.at"),
        (lambda m: m.update(colour="red"), "Additional properties"),
    ],
)
def test_invalid_manifest_names_the_field(mutate: Any, message: str) -> None:
    model = copy.deepcopy(MODEL)
    mutate(model)
    with pytest.raises(ManifestError, match=message.replace("(", "\\(")):
        parse_manifest(_yaml(model), "m.yaml")


def _yaml(model: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(empty_manifest("prod") | {"model": model, "image": IMAGE})


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="m.yaml: line 1 not valid YAML"):
        parse_manifest("model: [", "m.yaml")
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "nope.yaml")
