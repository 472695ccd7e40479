"""GitHub Actions workflow checks.

zizmor (auditor persona, offline), check-jsonschema's built-in workflow schema, and the
project's own rules (pinned actions, read-only top-level permissions, no ``github.event`` text
in ``run:``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from pipelines.delivery.lint.findings import Finding

PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
UNTRUSTED = re.compile(r"\$\{\{[^}]*\b(github\.event\.|github\.head_ref|inputs\.)[^}]*\}\}")


def tool(name: str) -> str | None:
    """An executable on PATH or beside the running interpreter (the project's venv)."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def _uses_pinned(uses: str) -> bool:
    if uses.startswith("./") or uses.startswith("docker://"):
        return uses.startswith("./") or "@sha256:" in uses
    return bool(PINNED.match(uses))


def check_workflow(source: str, doc: Any) -> list[Finding]:
    """The project's own rules for one loaded workflow (pure)."""
    found: list[Finding] = []
    if not isinstance(doc, dict):
        return [Finding(source, "(top level)", "expected a mapping")]
    perms = doc.get("permissions")
    if perms is None:
        found.append(
            Finding(source, "permissions", "top-level permissions missing; set {} or read-only")
        )
    elif perms == "write-all" or (isinstance(perms, dict) and "write" in perms.values()):
        found.append(
            Finding(
                source, "permissions", f"top-level permissions {perms!r}: grant writes per job only"
            )
        )
    for job_id, job in (doc.get("jobs") or {}).items():
        if not isinstance(job, dict):
            continue
        if job.get("permissions") == "write-all":
            found.append(
                Finding(
                    source, f"jobs.{job_id}.permissions", "write-all; list only what the job needs"
                )
            )
        if "uses" in job and not _uses_pinned(str(job["uses"])):
            found.append(Finding(source, f"jobs.{job_id}.uses", f"{job['uses']!r} not pinned"))
        for index, step in enumerate(job.get("steps") or []):
            where = f"jobs.{job_id}.steps[{index}]"
            uses = step.get("uses")
            if uses and not _uses_pinned(str(uses)):
                found.append(
                    Finding(source, where, f"action {uses!r} is not pinned to a full commit SHA")
                )
            run = step.get("run")
            if run and UNTRUSTED.search(str(run)):
                expr = UNTRUSTED.search(str(run)).group(0)  # type: ignore[union-attr]
                found.append(
                    Finding(
                        source,
                        where,
                        f"{expr} interpolated into run: (script injection); pass it through env:",
                    )
                )
    return found


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)  # noqa: S603


def run_zizmor(root: Path, folder: Path) -> list[Finding]:
    """Run zizmor --offline --persona=auditor findings, one per location."""
    exe = tool("zizmor")
    if exe is None:
        return [Finding(str(folder), "zizmor", "zizmor is not installed (pip install zizmor)")]
    proc = _run([exe, "--offline", "--persona=auditor", "--format=json", str(folder)], root)
    try:
        results = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [Finding(str(folder), "zizmor", f"failed: {last}")]
    found = []
    for result in results:
        location = (result.get("locations") or [{}])[0]
        symbolic = location.get("symbolic", {})
        path = symbolic.get("key", {}).get("Local", {}).get("verbatim_path", str(folder))
        row = location.get("concrete", {}).get("location", {}).get("start_point", {}).get("row")
        where = f"line {row + 1}" if isinstance(row, int) else "?"
        note = symbolic.get("annotation", "")
        found.append(
            Finding(path, where, f"zizmor {result.get('ident')}: {result.get('desc')} ({note})")
        )
    if proc.returncode not in (0, 10, 11, 12, 13, 14) and not found:
        found.append(Finding(str(folder), "zizmor", f"exit status {proc.returncode}"))
    return found


def run_check_jsonschema(root: Path, files: list[Path]) -> list[Finding]:
    """check-jsonschema against its vendored GitHub workflow schema (works offline)."""
    exe = tool("check-jsonschema")
    if exe is None:
        return [Finding("check-jsonschema", "-", "check-jsonschema is not installed")]
    cmd = [exe, "--builtin-schema", "vendor.github-workflows", "-o", "json", *map(str, files)]
    proc = _run(cmd, root)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [Finding("check-jsonschema", "-", f"failed: {proc.stderr.strip()[:200]}")]
    found = []
    for error in report.get("errors", []):
        best = error.get("best_deep_match") or error
        found.append(
            Finding(error["filename"], best.get("path", "$"), f"workflow schema: {best['message']}")
        )
    for error in report.get("parse_errors", []):
        found.append(
            Finding(error.get("filename", "?"), "-", f"not parseable: {error.get('message')}")
        )
    return found


def lint_workflows(root: Path, folder: Path) -> list[Finding]:
    """Every workflow check over ``folder`` (``.github/workflows``)."""
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    if not files:
        return []
    found: list[Finding] = []
    for file in files:
        rel = str(file.relative_to(root)) if file.is_relative_to(root) else str(file)
        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            found.append(Finding(rel, "-", "not valid YAML"))
            continue
        found += check_workflow(rel, doc)
    found += run_check_jsonschema(root, files)
    found += run_zizmor(root, folder)
    return found
