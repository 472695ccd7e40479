"""Artifact digest verification and the deploy workflow submission helpers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from pipelines.delivery.actions import render_outputs, set_outputs
from pipelines.delivery.artifact import ArtifactError, verify
from pipelines.delivery.deploy import DeployError, affected, manifest_version, wait, workflow_for
from pipelines.delivery.gitops import Git
from pipelines.errors import PipelineError
from pipelines.registry.bundle import DigestMismatch
from pipelines.registry.manifest import empty_manifest, write_manifest
from tests.delivery.gitrepo import git, init_repo


def manifest_for(tmp_path: Path, uri: str, sha: str) -> Path:
    doc = empty_manifest("dev")
    doc["model"] = {
        "name": "m",
        "version": "1",
        "artifact": {"uri": uri, "sha256": sha},
        "provenance": {
            "git_commit": "abcdef1",
            "dvc_data_hash": "d",
            "mlflow_run_id": "r",
            "params_hash": "p",
        },
        "evaluation": {"metrics": {}, "gate": {"verdict": "pass", "report_sha256": "0" * 64}},
        "promotion": {"from": "training", "at": "2026-11-27T00:00:00Z", "by": "t", "reason": "r"},
    }
    return write_manifest(tmp_path / "model.yaml", doc)


def test_verify_accepts_matching_digest_and_refuses_mismatch(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(b'{"model": "text"}')
    good = hashlib.sha256(bundle.read_bytes()).hexdigest()
    out = tmp_path / "out" / "bundle.json"
    assert verify(manifest_for(tmp_path, "bundle.json", good), out, tmp_path) == good
    assert out.read_bytes() == bundle.read_bytes()
    out.unlink()
    with pytest.raises(DigestMismatch, match="refusing the model"):
        verify(manifest_for(tmp_path, f"file://{bundle}", "f" * 64), out, tmp_path)
    assert not out.exists()
    with pytest.raises(ArtifactError, match="artifact not found"):
        verify(manifest_for(tmp_path, "missing.json", good), out, tmp_path)
    write_manifest(tmp_path / "model.yaml", empty_manifest("dev"))
    with pytest.raises(ArtifactError, match="model is null"):
        verify(tmp_path / "model.yaml", out, tmp_path)


def test_affected_only_for_changed_environments(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    (root / "environments" / "staging" / "model.yaml").write_text("# changed\n")
    git(root, "commit", "--quiet", "-am", "staging change")
    repo = Git(root)
    assert affected(repo, "staging", "HEAD~1")
    assert not affected(repo, "prod", "HEAD~1")


def test_workflow_object_and_wait() -> None:
    wf = workflow_for("prod", "abc123")
    assert wf["spec"]["workflowTemplateRef"] == {"name": "deploy"}
    assert {"name": "environment", "value": "prod"} in wf["spec"]["arguments"]["parameters"]
    phases = iter(["Pending", "Running", "Succeeded"])
    assert wait("w", "argo", 60, phase_of=lambda n, ns: next(phases), sleep=lambda s: None) == (
        "Succeeded"
    )
    failed = iter(["Running", "Failed"])
    with pytest.raises(DeployError, match="ended Failed"):
        wait("w", "argo", 60, phase_of=lambda n, ns: next(failed), sleep=lambda s: None)
    with pytest.raises(DeployError, match="still Running"):
        wait("w", "argo", 30, phase_of=lambda n, ns: "Running", sleep=lambda s: None)


@pytest.fixture
def moto_s3(s3_endpoint: str) -> str:
    """The shared moto S3 server (tests/conftest.py) as the default endpoint."""
    return s3_endpoint


@pytest.mark.slow
def test_verify_downloads_from_s3(tmp_path: Path, moto_s3: str) -> None:
    import boto3

    payload = b'{"bundle": 1}'
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="m/1/bundle.json", Body=payload)
    sha = hashlib.sha256(payload).hexdigest()
    out = tmp_path / "bundle.json"
    assert verify(manifest_for(tmp_path, "s3://models/m/1/bundle.json", sha), out, tmp_path) == sha
    with pytest.raises(ArtifactError, match="download failed"):
        verify(manifest_for(tmp_path, "s3://models/m/2/bundle.json", sha), out, tmp_path)


def test_deploy_writes_step_outputs_for_the_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    root = init_repo(tmp_path / "repo")
    write_manifest(
        root / "environments" / "dev" / "model.yaml",
        yaml.safe_load(manifest_for(tmp_path, "bundle.json", "a" * 64).read_text()),
    )
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=1\n")
    monkeypatch.chdir(root)
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assert main(["deploy", "--env", "dev", "--changed-since", "HEAD"]) == 0
    assert "dev: nothing changed since HEAD" in capsys.readouterr().out
    assert outputs.read_text() == "earlier=1\nmodel_version=1\ndeployed=false\n"
    assert manifest_version(root, "staging") == "none"


def test_step_outputs_are_one_line_each(tmp_path: Path) -> None:
    target = tmp_path / "out"
    set_outputs({"status": "created", "model_version": "7"}, {"GITHUB_OUTPUT": str(target)})
    assert target.read_text() == "status=created\nmodel_version=7\n"
    set_outputs({"status": "x"}, {})  # outside GitHub Actions: nothing to write
    with pytest.raises(PipelineError, match="step output 'status': expected one line"):
        render_outputs({"status": "a\nb=c"})
