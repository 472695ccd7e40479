"""What the overlays, Argo templates and workflows name is created by Terraform or the overlay.

Terraform's side is computed by Terraform (``terraform console`` on kubernetes-objects) and its
helm releases; the manifests' side is what ``kubectl kustomize`` renders and what the templates
and workflows say. Each fixture names something nothing creates, and must be reported.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.infra.crossref import cross_reference
from pipelines.infra.references import MODEL_ENVIRONMENTS, Document, render_overlay
from tests.conftest import REPO_ROOT, require_tool

FIXTURES = Path(__file__).resolve().parent / "fixtures"
UNMET = "is created by nothing (Terraform or the overlay)"


@pytest.fixture(scope="module")
def overlays() -> dict[str, list[Document]]:
    require_tool("kubectl")
    require_tool("terraform", "TERRAFORM_PYTHON")
    return {env: render_overlay(REPO_ROOT, env) for env in MODEL_ENVIRONMENTS}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The parts of the repository the cross-reference reads, to break one at a time."""
    for name in ("terraform", "deploy", "monitoring", ".github"):
        shutil.copytree(
            REPO_ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns(".terraform")
        )
    for name in ("params.yaml", ".dvc/config"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "environments", tmp_path / "environments")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture anchor missing in {path}: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_everything_named_is_created(overlays: dict[str, list[Document]], env: str) -> None:
    assert cross_reference(REPO_ROOT, env, overlays=overlays) == []


def test_a_template_naming_what_nothing_creates_fails(
    overlays: dict[str, list[Document]], tmp_path: Path
) -> None:
    argo = tmp_path / "argo"
    shutil.copytree(REPO_ROOT / "deploy" / "argo", argo)
    shutil.copy(FIXTURES / "broken-template.yaml", argo / "broken.yaml")
    problems = cross_reference(REPO_ROOT, argo_dir=argo, overlays=overlays)
    where = "argo/broken.yaml: WorkflowTemplate/broken"
    assert problems == sorted(
        [
            "argo/broken.yaml: Canary/nothing-installs-this: kind Canary (no CRD installed) "
            + UNMET,
            f"{where}: CRD canaries.argoproj.io {UNMET}",
            f"{where}: key no-such-key of ConfigMap argo/pipelines-config {UNMET}",
            f"{where}: Secret argo/github-dispatch-typo {UNMET}",
            f"{where}: ServiceAccount argo/ghost {UNMET}",
            f"{where}: StorageClass nfs-nobody-made {UNMET}",
            f"{where}: Service monitoring/prometheus {UNMET}",
            f"{where}: bucket someone-elses-bucket {UNMET}",
            f"{where}: namespace trading-qa {UNMET}",
            f"{where}: port 9092 of monitoring/pushgateway {UNMET}",
            f"{where}: runs as argo/ghost, which reaches S3 without a pod identity "
            "(kubernetes-objects workload_access)",
        ]
    )


def test_terraform_that_no_longer_creates_what_is_named_fails(
    overlays: dict[str, list[Document]], copy: Path
) -> None:
    objects = copy / "terraform" / "modules" / "kubernetes-objects"
    edit(
        objects / "main.tf",
        '      "dvc-remote-url"      = "s3://${var.bucket_names["dvc"]}/cache"\n',
        "",
    )
    edit(
        objects / "secrets.tf",
        'target          = { name = "github-dispatch", ',
        'target          = { name = "github-token", ',
    )
    edit(
        copy / "terraform" / "modules" / "argo" / "main.tf",
        "mlflow_port     = 5000",
        "mlflow_port     = 80",
    )
    edit(
        objects / "main.tf",
        '      deployer  = { namespace = "argo", service_account = "deployer", read = ["mlflow"],'
        " write = [] }\n",
        "",
    )
    edit(
        objects / "delivery.tf",
        'resources = ["virtualservices", "destinationrules"]',
        'resources = ["destinationrules"]',
    )
    problems = cross_reference(copy, overlays=overlays)
    deploy = "argo/deploy.yaml: WorkflowTemplate/deploy"
    expected = [
        "argo/data.yaml: WorkflowTemplate/data-pipeline: key dvc-remote-url of ConfigMap "
        f"argo/pipelines-config {UNMET}",
        f"{deploy}: Secret argo/github-dispatch {UNMET}",
        f"{deploy}: runs as argo/deployer, which reaches S3 without a pod identity "
        "(kubernetes-objects workload_access)",
        "environments/prod: VirtualService/strategy-service: deployer may not create, get, patch "
        "virtualservices (prod)",
        "terraform delivery: ConfigMap/pipelines-config: port 5000 of mlflow/mlflow " + UNMET,
    ]
    for line in expected:
        assert line in problems, "\n".join(problems)


def test_a_workflow_that_names_what_nothing_creates_fails(
    overlays: dict[str, list[Document]], copy: Path
) -> None:
    deploy = copy / ".github" / "workflows" / "deploy.yml"
    edit(deploy, "    runs-on: trading-platform", "    runs-on: trading-platfrom")
    edit(deploy, "    environment: dev\n", "    environment: qa\n")
    problems = cross_reference(
        REPO_ROOT, workflows=copy / ".github" / "workflows", overlays=overlays
    )
    assert problems == [
        "deploy.yml:deploy-dev: ARGO_TOKEN of environment qa: no account github-deploy-qa",
        "deploy.yml:deploy-dev: ARGO_TOKEN of environment qa: no token Secret",
        "deploy.yml:deploy-dev: runs-on trading-platfrom: no runner scale set of that name",
    ]
