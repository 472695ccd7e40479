"""The training hand-off: ``models/candidate.json`` and its per-environment gate reports.

Pure checks over loaded documents plus small readers; extra keys are tolerated.
"""

from __future__ import annotations

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
    )


def check_gate(report: Any, environment: str, source: str) -> None:
    """Fail closed unless the report is for ``environment`` and every gate passed.

    Raises:
        CandidateError: When the report is malformed or for another environment.
        GateFailed: When the verdict or any single gate is not ``pass``.
    """
    if not isinstance(report, dict) or not isinstance(report.get("gates"), list):
        raise CandidateError(f"{source}: expected an object with a 'gates' list")
    if report.get("environment") != environment:
        raise CandidateError(
            f"{source}: report is for environment {report.get('environment')!r}, "
            f"expected {environment!r}"
        )
    if not report["gates"]:
        raise GateFailed(f"{source}: no gates were evaluated; refusing to promote")
    failed = [str(g.get("name", "?")) for g in report["gates"] if g.get("verdict") != "pass"]
    if report.get("verdict") != "pass" or failed:
        which = ", ".join(failed) or "overall verdict"
        raise GateFailed(
            f"{source}: gate for {environment} did not pass ({which}); refusing to promote"
        )


def read_json(path: Path) -> Any:
    """Load a JSON file with one-line errors."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CandidateError(f"{path}: not found (run the training pipeline first)") from None
    except json.JSONDecodeError as exc:
        raise CandidateError(f"{path}: line {exc.lineno}: not valid JSON") from None
