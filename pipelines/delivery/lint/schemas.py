"""Validate rendered Argo objects against the third-party JSON Schemas in ``../shared/schemas``.

The Rollouts schemas are used in their strict variants (unknown fields rejected). The Workflows
schema ships a known defect (IntOrString declared as string only, upstream issues #6060/#6349):
it is fixed at load time as its SOURCE.md documents. It also has no ``additionalProperties:
false`` anywhere, so a misspelled or removed field (v4 dropped ``synchronization.mutex`` for
``mutexes``) would pass: it is made strict at load time the same way, every object definition
with declared properties rejecting undeclared ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.protocols import Validator

from pipelines.delivery.lint.findings import Finding

ROLLOUT_KINDS = {
    "Rollout": "rollout.strict.json",
    "AnalysisTemplate": "analysistemplate.strict.json",
    "ClusterAnalysisTemplate": "clusteranalysistemplate.strict.json",
    "AnalysisRun": "analysisrun.strict.json",
}
WORKFLOW_KINDS = {
    "Workflow",
    "WorkflowTemplate",
    "CronWorkflow",
    "ClusterWorkflowTemplate",
    "WorkflowEventBinding",
}
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


@lru_cache(maxsize=8)
def _rollouts_validator(folder: str, file: str) -> Validator:
    schema = json.loads((Path(folder) / file).read_text(encoding="utf-8"))
    return Draft7Validator(schema)


@lru_cache(maxsize=2)
def _workflow_definitions(folder: str) -> dict[str, Any]:
    schema = json.loads((Path(folder) / "schema.json").read_text(encoding="utf-8"))
    definitions: dict[str, Any] = schema["definitions"]
    definitions[INT_OR_STRING] = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    for definition in definitions.values():
        if isinstance(definition, dict) and "properties" in definition:
            definition.setdefault("additionalProperties", False)
    return definitions


@lru_cache(maxsize=8)
def _workflow_validator(folder: str, kind: str) -> Validator:
    definitions = _workflow_definitions(folder)
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{kind}",
        "definitions": definitions,
    }
    return Draft202012Validator(root)


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "(top level)"


def validate_objects(shared: Path, source: str, docs: list[dict[str, Any]]) -> list[Finding]:
    """Schema findings for every Argo object in ``docs`` (others are skipped).

    Args:
        shared: The ``../shared`` folder (holding ``schemas/``).
        source: Overlay or file the objects come from (for messages).
        docs: Loaded Kubernetes objects.
    """
    findings: list[Finding] = []
    for doc in docs:
        kind = str(doc.get("kind"))
        name = (doc.get("metadata") or {}).get("name", "?")
        if kind in ROLLOUT_KINDS and str(doc.get("apiVersion", "")).startswith("argoproj.io/"):
            folder = str(shared / "schemas" / "argo-rollouts")
            validator = _rollouts_validator(folder, ROLLOUT_KINDS[kind])
        elif kind in WORKFLOW_KINDS:
            validator = _workflow_validator(str(shared / "schemas" / "argo-workflows"), kind)
        else:
            continue
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            findings.append(
                Finding(
                    source,
                    f"{kind}/{name}: {_path(error.absolute_path)}",
                    f"schema: {_short(error.message)}",
                )
            )
    return findings


def _short(message: str, limit: int = 240) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."
