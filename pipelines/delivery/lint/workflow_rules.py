"""Semantic checks of Argo WorkflowTemplates/CronWorkflows that the JSON Schema misses."""

from __future__ import annotations

import re
from typing import Any

from pipelines.delivery.lint.findings import Finding

TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
STATES = {
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
}


def check_argo_workflow(source: str, doc: dict[str, Any]) -> list[Finding]:
    """Entrypoint, onExit and every template/task reference must exist; DAG depends too."""
    kind = doc.get("kind")
    if kind not in ("WorkflowTemplate", "ClusterWorkflowTemplate", "Workflow", "CronWorkflow"):
        return []
    name = (doc.get("metadata") or {}).get("name", "?")
    spec = doc.get("spec") or {}
    found: list[Finding] = []

    def add(where: str, message: str) -> None:
        found.append(Finding(source, f"{kind}/{name}: {where}", message))

    if kind == "CronWorkflow":
        if not spec.get("schedules"):
            add("spec.schedules", "missing (Argo Workflows v4 requires the schedules list)")
        spec = spec.get("workflowSpec") or {}
        if "workflowTemplateRef" in spec:
            return found
    templates = {t.get("name") for t in spec.get("templates") or []}
    for key in ("entrypoint", "onExit"):
        if key in spec and spec[key] not in templates:
            add(f"spec.{key}", f"template {spec[key]!r} does not exist")
    for template in spec.get("templates") or []:
        tname = template.get("name")
        tasks = (template.get("dag") or {}).get("tasks") or []
        task_names = {t.get("name") for t in tasks}
        for task in tasks:
            if task.get("template") and task["template"] not in templates:
                add(
                    f"templates.{tname}.{task.get('name')}",
                    f"template {task['template']!r} does not exist",
                )
            for word in TASK_NAME.findall(str(task.get("depends", ""))):
                if word not in task_names and word not in STATES:
                    add(f"templates.{tname}.{task.get('name')}.depends", f"unknown task {word!r}")
        for group in template.get("steps") or []:
            for step in group or []:
                if step.get("template") and step["template"] not in templates:
                    add(
                        f"templates.{tname}.{step.get('name')}",
                        f"template {step['template']!r} does not exist",
                    )
    return found
