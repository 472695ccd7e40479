"""pipelines lint on the promoted unit: manifest fields, images by digest, the service's args."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.delivery.lint.runner import lint_argo_files, lint_overlay
from pipelines.registry.manifest import empty_manifest, write_manifest
from tests.conftest import REPO_ROOT, SHARED, require_tool
from tests.registry.fixtures import manifest

URI = "s3://mlflow-artifacts/1/r1/artifacts/bundle/model_bundle.json"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require_tool("kubectl")
    for part in ("environments", "deploy"):
        shutil.copytree(REPO_ROOT / part, tmp_path / part)
    return tmp_path


def messages(repo: Path, env: str = "prod") -> list[str]:
    found = lint_overlay(repo / "environments" / env, env, None)
    return [str(f) for f in found if not f.where.startswith("AnalysisTemplate")]


def put(repo: Path, doc: dict, env: str = "prod") -> Path:
    target = repo / "environments" / env / "model.yaml"
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    return target


def test_a_promoted_manifest_lints_clean(repo: Path) -> None:
    write_manifest(repo / "environments/prod/model.yaml", manifest("prod", URI, "a" * 64))
    assert messages(repo) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["model"]["artifact"].update(sha256="a" * 63), "model.artifact.sha256"),
        (lambda d: d["model"]["artifact"].update(sha256="g" * 64), "model.artifact.sha256"),
        (lambda d: d["model"]["artifact"].update(uri="models/model_bundle.json"), "artifact.uri"),
        (
            lambda d: d["model"]["artifact"].update(uri="file:///home/me/mlruns/b.json"),
            "model.artifact.uri: 'file:///home/me/mlruns/b.json' is not in the artifact store",
        ),
        (lambda d: d.update(image=d["image"].split("@")[0] + ":main"), "image: "),
        (
            lambda d: d.update(image=empty_manifest("prod")["image"]),
            "the all-zero digest names no image",
        ),
        (lambda d: d.update(environment="staging"), "environment: 'staging', expected 'prod'"),
        (lambda d: d["metadata"].pop("annotations"), "'annotations' is a required property"),
    ],
)
def test_manifest_findings(repo: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    doc = manifest("prod", URI, "a" * 64)
    mutate(doc)
    put(repo, doc)
    found = messages(repo)
    assert any(m.startswith("prod/model.yaml: ") and expected in m for m in found), found


def test_tag_image_without_the_replacement(repo: Path) -> None:
    kustomization = repo / "environments/staging/kustomization.yaml"
    doc = yaml.safe_load(kustomization.read_text())
    doc.pop("replacements")
    doc["images"] = [{"name": "strategy-service", "newName": "ghcr.io/x/y", "newTag": "main"}]
    kustomization.write_text(yaml.safe_dump(doc))
    found = messages(repo, "staging")
    assert any("'ghcr.io/x/y:main' is not pinned by digest" in m for m in found), found
    assert any("is not model.yaml's image" in m for m in found), found


def test_service_listening_on_loopback_or_caching_on_the_root_filesystem(repo: Path) -> None:
    rollout = repo / "environments/base/rollout.yaml"
    text = rollout.read_text()
    text = text.replace("            - --host\n            - 0.0.0.0\n", "")
    text = text.replace("            - --cache-dir\n            - /var/cache/model\n", "")
    rollout.write_text(text)
    found = messages(repo, "dev")
    assert any("args --host (unset" in m and "pass --host 0.0.0.0" in m for m in found), found
    assert any("args --cache-dir (unset)" in m and "read-only" in m for m in found), found


def test_deploy_template_against_the_strict_schema(repo: Path) -> None:
    if not (SHARED / "schemas").is_dir():
        pytest.skip("../shared/schemas is not here (CI has it)")
    deploy = repo / "deploy/argo/deploy.yaml"
    assert [str(f) for f in lint_argo_files(repo, repo / "deploy/argo", SHARED)] == []
    deploy.write_text(deploy.read_text().replace("    mutexes:\n", "    mutex:\n", 1))
    found = [str(f) for f in lint_argo_files(repo, repo / "deploy/argo", SHARED)]
    assert any("spec.synchronization" in m and "'mutex' was unexpected" in m for m in found)
