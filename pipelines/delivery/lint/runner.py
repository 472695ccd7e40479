"""Run every lint: render overlays, validate Argo objects, check semantics, audit workflows."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from pipelines.delivery.lint.analysis_rules import check_rule_names, check_template
from pipelines.delivery.lint.dockerfile import lint_dockerfiles
from pipelines.delivery.lint.findings import Finding
from pipelines.delivery.lint.manifest_rules import check_manifest, check_rendered
from pipelines.delivery.lint.rollout_rules import RolloutChecker
from pipelines.delivery.lint.schemas import validate_objects
from pipelines.delivery.lint.workflow_rules import check_argo_workflow
from pipelines.delivery.lint.workflows import lint_workflows, tool
from pipelines.io import yamlio


def render(overlay: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize <overlay>`` as loaded objects.

    Raises:
        RuntimeError: With kustomize's last error line when rendering fails.
    """
    exe = tool("kubectl")
    if exe is None:
        raise RuntimeError("kubectl is not installed (needed for kubectl kustomize)")
    proc = subprocess.run(  # noqa: S603
        [exe, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["failed"]
        raise RuntimeError(lines[-1])
    return [doc for doc in yamlio.load_all(proc.stdout) if isinstance(doc, dict)]


def overlays(root: Path) -> list[Path]:
    """Every ``environments/<env>`` folder with a kustomization (base excluded)."""
    return sorted(
        p.parent
        for p in (root / "environments").glob("*/kustomization.yaml")
        if p.parent.name != "base"
    )


def lint_overlay(overlay: Path, source: str, shared: Path | None) -> list[Finding]:
    """Findings for one overlay: its manifest and what it renders."""
    found, manifest = check_manifest(overlay, source)
    try:
        docs = render(overlay)
    except RuntimeError as exc:
        return [*found, Finding(source, "kubectl kustomize", str(exc))]
    found += check_rendered(source, docs, manifest)
    settings_file = overlay / "settings.yaml"
    settings = (
        yamlio.load(settings_file.read_text(encoding="utf-8")) if settings_file.exists() else {}
    )
    if shared is not None:
        found += validate_objects(shared, source, docs)
    templates = {
        d["metadata"]["name"]: d
        for d in docs
        if d.get("kind") in ("AnalysisTemplate", "ClusterAnalysisTemplate")
    }
    for template in templates.values():
        found += check_template(source, template)
    for rule_doc in (d for d in docs if d.get("kind") == "PrometheusRule"):
        found += check_rule_names(source, rule_doc)
    rollouts = [d for d in docs if d.get("kind") == "Rollout"]
    if not rollouts:
        found.append(Finding(source, "-", "renders no Rollout"))
    for rollout in rollouts:
        found += RolloutChecker(source, rollout, templates, settings or {}).run()
    return found


def lint_argo_files(root: Path, folder: Path, shared: Path | None) -> list[Finding]:
    """Schema (when ``shared`` is given) and reference findings for Argo Workflows files."""
    found: list[Finding] = []
    for file in sorted(folder.rglob("*.yaml")):
        rel = str(file.relative_to(root))
        try:
            docs = [d for d in yamlio.load_all(file.read_text(encoding="utf-8")) if d]
        except yaml.YAMLError:
            found.append(Finding(rel, "-", "not valid YAML"))
            continue
        if shared is not None:
            found += validate_objects(shared, rel, docs)
        for doc in docs:
            found += check_argo_workflow(rel, doc)
    return found


def run_lint(root: Path, shared: Path | None = None) -> list[Finding]:
    """All findings for the repository at ``root`` (empty: lint passes).

    Args:
        root: Repository root.
        shared: Folder holding ``schemas/``; default ``../shared`` beside the repository,
            skipped when absent.
    """
    if shared is None:
        shared = Path(os.environ.get("PIPELINES_SHARED", root.resolve().parent / "shared"))
    schemas = shared if (shared / "schemas").is_dir() else None
    workflows = root / ".github" / "workflows"
    # kustomize and the workflow tools are separate processes: started side by side, the
    # overlays' own checks run while they work (the findings are sorted at the end).
    with ThreadPoolExecutor(max_workers=4) as pool:
        parts = [pool.submit(lint_workflows, root, workflows)] if workflows.is_dir() else []
        parts += [
            pool.submit(lint_overlay, overlay, str(overlay.relative_to(root)), schemas)
            for overlay in overlays(root)
        ]
        found: list[Finding] = []
        argo = root / "deploy" / "argo"
        if argo.is_dir():
            found += lint_argo_files(root, argo, schemas)
        found += lint_dockerfiles(root)
        for part in parts:
            found += part.result()
    return sorted(set(found))
