"""The training hand-off: ``models/candidate.json`` and its per-environment gate reports.

Pure checks over loaded documents plus small readers; extra keys are tolerated. A gate report is
evidence only for the bundle it judged (``candidate.sha256``), and promotion records the sha256
of the very bytes it parsed (:func:`read_evidence`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import GateFailed, PipelineError


class CandidateError(PipelineError):
    """The candidate or its gate report is missing a field or is not what promotion expects."""


@dataclass(frozen=True)
class Candidate:
    """The candidate model as training described it."""

    name: str
    version: str
    uri: str
    sha256: str
    provenance: dict[str, str]
    metrics: dict[str, Any]
    gate_reports: dict[str, str]
    image: str | None = None


@dataclass(frozen=True)
class Evidence:
    """A gate report as read: the parsed document and the sha256 of the bytes parsed."""

    report: Any
    sha256: str
    source: str


def _need(doc: dict[str, Any], dotted: str, source: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or node.get(part) in (None, ""):
            raise CandidateError(f"{source}: field {dotted} is missing (expected by promotion)")
        node = node[part]
    return node


def parse_candidate(doc: Any, source: str) -> Candidate:
    """Check and convert a loaded ``candidate.json``.

    Raises:
        CandidateError: Naming the first missing field.
    """
    if not isinstance(doc, dict):
        raise CandidateError(f"{source}: expected a JSON object")
    provenance = {
        key: str(_need(doc, f"provenance.{key}", source))
        for key in ("git_commit", "dvc_data_hash", "mlflow_run_id", "params_hash")
    }
    metrics = doc.get("metrics") or {}
    reports = doc.get("gate_reports") or {}
    if not isinstance(metrics, dict) or not isinstance(reports, dict):
        raise CandidateError(f"{source}: metrics and gate_reports must be objects")
    return Candidate(
        name=str(_need(doc, "model_name", source)),
        version=str(_need(doc, "model_version", source)),
        uri=str(_need(doc, "artifact.uri", source)),
        sha256=str(_need(doc, "artifact.sha256", source)).lower(),
        provenance=provenance,
        metrics=dict(metrics),
        gate_reports={str(k): str(v) for k, v in reports.items()},
        image=str(doc["image"]) if doc.get("image") else None,
    )


def check_gate(report: Any, environment: str, source: str, bundle_sha256: str) -> None:
    """Fail closed unless the report judged ``bundle_sha256`` for ``environment`` and passed.

    Raises:
        CandidateError: When the report is malformed, for another environment or for another
            bundle.
        GateFailed: When the verdict or any single gate is not ``pass``.
    """
    if not isinstance(report, dict) or not isinstance(report.get("gates"), list):
        raise CandidateError(f"{source}: expected an object with a 'gates' list")
    if report.get("environment") != environment:
        raise CandidateError(
            f"{source}: report is for environment {report.get('environment')!r}, "
            f"expected {environment!r}"
        )
    judged = (report.get("candidate") or {}).get("sha256")
    if not judged:
        raise CandidateError(f"{source}: candidate.sha256 is missing: the report names no bundle")
    if str(judged).lower() != bundle_sha256.lower():
        raise CandidateError(
            f"{source}: the report judged bundle sha256 {str(judged)[:12]}..., not "
            f"{bundle_sha256[:12]}...; refusing evidence about another bundle"
        )
    if not report["gates"]:
        raise GateFailed(f"{source}: no gates were evaluated; refusing to promote")
    failed = [str(g.get("name", "?")) for g in report["gates"] if g.get("verdict") != "pass"]
    if report.get("verdict") != "pass" or failed:
        which = ", ".join(failed) or "overall verdict"
        raise GateFailed(
            f"{source}: gate for {environment} did not pass ({which}); refusing to promote"
        )


def read_evidence(path: Path) -> Evidence:
    """Read a gate report once: its document and the sha256 of exactly those bytes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CandidateError(f"{path}: not found (run the training pipeline first)") from None
    try:
        report = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", 1)
        raise CandidateError(f"{path}: line {line}: not valid JSON") from None
    return Evidence(report, hashlib.sha256(data).hexdigest(), str(path))


def read_json(path: Path) -> Any:
    """Load a JSON file with one-line errors."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CandidateError(f"{path}: not found (run the training pipeline first)") from None
    except json.JSONDecodeError as exc:
        raise CandidateError(f"{path}: line {exc.lineno}: not valid JSON") from None
