"""Register against a real MLflow server with S3 artifacts (moto); rollback and aliases on it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.config import parse_params
from pipelines.delivery.digests import MlflowRegistry
from pipelines.delivery.params import DeliveryParams
from pipelines.delivery.promote import PromotionRefused, promote
from pipelines.registry import mlflow_log, tags
from pipelines.registry.candidate import IMAGE_ENV
from pipelines.registry.manifest import write_manifest
from tests.conftest import REPO_ROOT
from tests.delivery.gitrepo import git, init_repo, merge
from tests.registry.conftest import ARTIFACT_BUCKET, MlflowServer, git_repo, write_models
from tests.registry.fixtures import image_for, manifest

IMAGE = image_for("trained-at-abc")
PARAMS = parse_params({})
MODEL = PARAMS.training.model_name


def register(root: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict:
    monkeypatch.chdir(root)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert mlflow_log.main(PARAMS) == 0
    return json.loads((root / "models" / "candidate.json").read_text())


@pytest.mark.slow
def test_register_uploads_to_s3_once_per_digest_and_rollback_finds_it(
    tmp_path: Path, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from mlflow import MlflowClient

    work = git_repo(tmp_path / "train")
    sha1 = write_models(work, seed=1)
    env = {**mlflow_server.env, IMAGE_ENV: IMAGE}
    first = register(work, monkeypatch, env)
    uri = first["artifact"]["uri"]
    assert uri.startswith(f"s3://{ARTIFACT_BUCKET}/") and uri.endswith("/bundle/model_bundle.json")
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == first["artifact"]["sha256"] == sha1
    assert first["image"] == IMAGE and first["model_version"] == "1"

    # The same bundle again: the same version, no new run, no new version.
    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    runs_before = len(client.search_runs(client.get_experiment_by_name("trading").experiment_id))
    again = register(work, monkeypatch, env)
    assert again == first
    assert len(client.search_runs(client.get_experiment_by_name("trading").experiment_id)) == (
        runs_before
    )
    assert [v.version for v in client.search_model_versions(f"name = '{MODEL}'")] == ["1"]
    version = client.get_model_version(MODEL, "1")
    assert version.tags[tags.DIGEST_TAG] == sha1 and version.tags[tags.ARTIFACT_URI_TAG] == uri

    sha2 = write_models(work, seed=2)
    second = register(work, monkeypatch, env)
    assert second["model_version"] == "2" and second["artifact"]["sha256"] == sha2

    # A GitOps repository whose prod ran 1 then 2: rollback and the alias step use the same tag.
    repo = init_repo(tmp_path / "gitops")
    target = repo / "environments" / "prod" / "model.yaml"
    for cand in (first, second):
        doc = manifest("prod", cand["artifact"]["uri"], cand["artifact"]["sha256"], name=MODEL)
        doc["model"]["version"] = cand["model_version"]
        write_manifest(target, doc)
        git(repo, "commit", "--quiet", "-am", f"prod runs {cand['model_version']}")
    monkeypatch.chdir(repo)
    params = ["--params", str(REPO_ROOT / "params.yaml")]
    assert main([*params, "registry-alias", "--env", "prod", "--manifest", str(target)]) == 0
    assert client.get_model_version_by_alias(MODEL, "prod").version == "2"
    assert tags.deployed_tag("prod") in client.get_model_version(MODEL, "2").tags
    assert main([*params, "rollback", "--env", "prod", "--to-version", "1", "--direct"]) == 0
    assert yaml.safe_load(target.read_text())["model"]["version"] == "1"
    assert tags.rolled_back_tag("prod") in client.get_model_version(MODEL, "2").tags
    assert main([*params, "registry-alias", "--env", "prod", "--manifest", str(target)]) == 0
    assert client.get_model_version_by_alias(MODEL, "prod").version == "1"
    assert client.get_model_version_by_alias(MODEL, "prod-previous").version == "2"


@pytest.mark.slow
def test_order_of_environments_reads_the_deploy_records(
    tmp_path: Path, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = git_repo(tmp_path / "train")
    write_models(work, seed=3)
    cand = register(work, monkeypatch, {**mlflow_server.env, IMAGE_ENV: IMAGE})
    sha = cand["artifact"]["sha256"]
    evidence = tmp_path / "evidence"
    (evidence / "models").mkdir(parents=True)
    (evidence / "models" / "candidate.json").write_text(json.dumps(cand))
    for env in ("dev", "staging", "prod"):
        report = {"environment": env, "verdict": "pass", "candidate": {"sha256": sha}}
        report["gates"] = [{"name": "sharpe", "verdict": "pass"}]
        path = evidence / "reports" / "gates" / f"{env}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report))
    repo = init_repo(tmp_path / "gitops")
    registry = MlflowRegistry(mlflow_server.url)
    delivery = DeliveryParams()

    merge(repo, promote(repo, delivery, "dev", by="t", evidence=evidence).branch)
    with pytest.raises(PromotionRefused, match="never finished deploying in dev"):
        promote(repo, delivery, "staging", by="t", evidence=evidence, registry=registry)
    monkeypatch.chdir(repo)
    dev = repo / "environments" / "dev" / "model.yaml"
    params = ["--params", str(REPO_ROOT / "params.yaml")]
    assert main([*params, "registry-alias", "--env", "dev", "--manifest", str(dev)]) == 0
    registry.record_rolled_back(MODEL, cand["model_version"], "dev")
    with pytest.raises(PromotionRefused, match="was rolled back out of dev"):
        promote(repo, delivery, "staging", by="t", evidence=evidence, registry=registry)
    assert main([*params, "registry-alias", "--env", "dev", "--manifest", str(dev)]) == 0
    result = promote(repo, delivery, "staging", by="t", evidence=evidence, registry=registry)
    staged = yaml.safe_load(git(repo, "show", f"{result.branch}:environments/staging/model.yaml"))
    assert (
        staged["image"] == IMAGE and staged["model"]["artifact"]["uri"] == (cand["artifact"]["uri"])
    )


@pytest.mark.slow
def test_embedded_default_commits_no_machine_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = git_repo(tmp_path / "laptop")
    write_models(work, seed=4)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(IMAGE_ENV, raising=False)
    cand = register(work, monkeypatch, {})
    text = (work / "models" / "candidate.json").read_text()
    assert str(tmp_path) not in text and "file:" not in text
    assert cand["artifact"]["uri"] == (
        f"runs:/{cand['provenance']['mlflow_run_id']}/bundle/model_bundle.json"
    )
    assert cand["image"] is None
    assert register(work, monkeypatch, {}) == cand  # idempotent on SQLite too
