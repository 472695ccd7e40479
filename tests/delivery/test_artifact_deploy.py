"""Artifact digest verification, and `pipelines deploy` against a fake Argo Server API."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipelines.cli import build_parser
from pipelines.delivery.actions import render_outputs, set_outputs
from pipelines.delivery.argo import ArgoClient, ArgoError, ArgoServer, server_from
from pipelines.delivery.artifact import ArtifactError, verify
from pipelines.delivery.deploy import POLL_SECONDS, DeployError, changed_environments, deploy
from pipelines.delivery.gitops import Git
from pipelines.errors import PipelineError
from pipelines.registry.bundle import DigestMismatch
from pipelines.registry.manifest import empty_manifest, write_manifest
from tests.delivery.fake_argo import FakeArgo, serve
from tests.delivery.gitrepo import git, init_repo
from tests.registry.fixtures import image_for, write

TOOLS = image_for("tools")


def manifest_for(tmp_path: Path, uri: str, sha: str) -> Path:
    return write(tmp_path / "model.yaml", "dev", uri, sha, name="m")


def test_verify_accepts_matching_digest_and_refuses_mismatch(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(b'{"model": "text"}')
    good = hashlib.sha256(bundle.read_bytes()).hexdigest()
    out = tmp_path / "out" / "bundle.json"
    target = manifest_for(tmp_path, f"file://{bundle}", good)
    assert verify(target, out, tmp_path, allow_local=True) == good
    assert out.read_bytes() == bundle.read_bytes()
    out.unlink()
    with pytest.raises(ArtifactError, match="but the deploy was given"):
        verify(target, out, tmp_path, expected_image=TOOLS, allow_local=True)
    with pytest.raises(DigestMismatch, match="refusing the model"):
        verify(
            manifest_for(tmp_path, f"file://{bundle}", "f" * 64), out, tmp_path, allow_local=True
        )
    assert not out.exists()
    with pytest.raises(ArtifactError, match="artifact not found"):
        verify(
            manifest_for(tmp_path, f"file://{tmp_path}/missing.json", good),
            out,
            tmp_path,
            allow_local=True,
        )
    with pytest.raises(ArtifactError, match="is not in the artifact store"):
        verify(target, out, tmp_path)
    write_manifest(tmp_path / "model.yaml", empty_manifest("dev"))
    with pytest.raises(ArtifactError, match="model is null"):
        verify(tmp_path / "model.yaml", out, tmp_path)


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


def gitops_with_changes(tmp_path: Path) -> tuple[Path, str]:
    """A repository, and the commit before a two-commit push that changes dev and staging."""
    root = init_repo(tmp_path / "repo")
    before = git(root, "rev-parse", "HEAD")
    for env, version in (("dev", "3"), ("staging", "2")):
        uri = f"s3://mlflow/1/r{version}/artifacts/bundle/model_bundle.json"
        write(root / "environments" / env / "model.yaml", env, uri, "a" * 64, version=version)
        git(root, "commit", "--quiet", "-am", f"promote {env}")
    return root, before


def test_changed_environments_over_a_multi_commit_push(tmp_path: Path) -> None:
    root, before = gitops_with_changes(tmp_path)
    repo = Git(root)
    envs = ["dev", "staging", "prod"]
    assert changed_environments(repo, before, envs) == ["dev", "staging"]
    assert changed_environments(repo, "HEAD~1", envs) == ["staging"]
    assert changed_environments(repo, "0" * 40, envs) == envs  # a new branch: everything
    with pytest.raises(DeployError, match="not in this clone"):
        changed_environments(repo, "b" * 40, envs)


def test_deploy_submits_each_changed_environment_through_the_sdk(tmp_path: Path) -> None:
    root, before = gitops_with_changes(tmp_path)
    fake = FakeArgo(phases={"dev": ["Running", "Succeeded"], "staging": ["Running", "Failed"]})
    with serve(fake) as url:
        client = ArgoClient(ArgoServer(url, "tok", "argo"))
        outcomes = deploy(
            root, ["dev", "staging", "prod"], client, since=before, tools_image=TOOLS,
            wait_seconds=30, poll_seconds=0.05,
        )  # fmt: skip
    lines = [o.line() for o in outcomes]
    assert lines[0].startswith("dev: workflow deploy-dev-00001 Succeeded, model 3")
    assert lines[1].startswith("staging: workflow deploy-staging-00002 Failed, model 2")
    assert lines[2] == f"prod: unchanged since {before}; not deploying"
    assert [o.ok for o in outcomes] == [True, False, True]
    first = fake.submitted[0]
    assert first["body"]["resourceName"] == "deploy" and first["body"]["namespace"] == "argo"
    assert first["parameters"] == {
        "environment": "dev",
        "revision": git(root, "rev-parse", "HEAD"),
        "image": image_for("strategy-lgbm-3"),
        "tools-image": TOOLS,
    }
    assert first["labels"] == {"pipelines.trading/environment": "dev"}


def test_deploy_cli_one_line_per_environment_and_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main as cli
    from tests.conftest import REPO_ROOT

    def main(argv: list[str]) -> int:
        return cli(["--params", str(REPO_ROOT / "params.yaml"), *argv])

    root, before = gitops_with_changes(tmp_path)
    outputs = tmp_path / "github_output"
    monkeypatch.chdir(root)
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("TOOLS_IMAGE", TOOLS)
    fake = FakeArgo()
    with serve(fake) as url:
        monkeypatch.setenv("ARGO_SERVER", url)
        monkeypatch.setenv("ARGO_TOKEN", "Bearer tok")
        assert main(["deploy", "--since", "HEAD~1", "--poll", "0.05"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line.split(":")[0] for line in out] == ["dev", "staging", "prod"]
        assert "staging: workflow deploy-staging-00001 Succeeded" in out[1]
        assert "staging_deployed=true\n" in outputs.read_text()
        assert "dev_deployed=false\n" in outputs.read_text()

        monkeypatch.setenv("ARGO_TOKEN", "wrong")
        assert main(["deploy", "--since", before]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: Argo Server http://127.0.0.1:") and "HTTP 401" in err
        assert err.count("\n") == 1
    monkeypatch.setenv("TOOLS_IMAGE", "ghcr.io/trading-pipelines/tools:main")
    assert main(["deploy", "--since", before]) == 2
    assert "--tools-image: 'ghcr.io/trading-pipelines/tools:main' is not an image by digest" in (
        capsys.readouterr().err
    )


def test_unknown_template_and_connection_settings() -> None:
    fake = FakeArgo(templates=set())
    with serve(fake) as url:
        client = ArgoClient(ArgoServer(url, "tok"))
        with pytest.raises(ArgoError, match='HTTP 404 workflowtemplates.argoproj.io "deploy"'):
            client.submit("deploy", {"environment": "dev"}, {})
    server = server_from(None, None, None, environ={"ARGO_SERVER": "argo.example:2746"})
    assert (server.url, server.token, server.namespace) == (
        "https://argo.example:2746",
        None,
        "argo",
    )
    # As the argo CLI: ARGO_SECURE=false makes a bare host:port plain HTTP (the twin's server).
    plain = {"ARGO_SERVER": "127.0.0.1:2746", "ARGO_SECURE": "false"}
    assert server_from(None, None, None, environ=plain).url == "http://127.0.0.1:2746"
    full = {"ARGO_SERVER": "https://argo.example", "ARGO_SECURE": "false"}
    assert server_from(None, None, None, environ=full).url == "https://argo.example"
    with pytest.raises(ArgoError, match="set ARGO_SERVER"):
        server_from(None, None, None, environ={})


def test_step_outputs_are_one_line_each(tmp_path: Path) -> None:
    target = tmp_path / "out"
    set_outputs({"status": "created", "model_version": "7"}, {"GITHUB_OUTPUT": str(target)})
    assert target.read_text() == "status=created\nmodel_version=7\n"
    set_outputs({"status": "x"}, {})  # outside GitHub Actions: nothing to write
    with pytest.raises(PipelineError, match="step output 'status': expected one line"):
        render_outputs({"status": "a\nb=c"})


def test_the_clis_poll_default_is_the_watchers() -> None:
    # The CLI imports the deploy module only when it runs, so its --poll default is a copy.
    assert build_parser().parse_args(["deploy"]).poll == POLL_SECONDS == 1.0
