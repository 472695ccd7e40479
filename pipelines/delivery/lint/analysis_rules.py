"""Semantic checks of AnalysisTemplates that the CRD schema does not make.

Argo Rollouts counts a measurement with no condition as successful and evaluates a condition on
an empty result as an error or a pass depending on the expression, so every metric needs a
condition and every condition must start with the guard ``len(result) > 0 &&``. A metric with
a failureCondition as well can be Inconclusive, so it must set ``inconclusiveLimit``
explicitly (an Inconclusive run pauses the rollout for a person). Job metrics are refused: a
Job that does not succeed is a failed measurement, so "not enough data" could only abort.
"""

from __future__ import annotations

import re
from typing import Any

from pipelines.delivery.lint.findings import Finding
from pipelines.monitoring.metric_names import exported_series_names

GUARD = re.compile(r"^\s*\(?\s*len\(result\)\s*>\s*0\s*&&")
CONDITIONS = ("successCondition", "failureCondition")
ARG_REF = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
# A series selector: a metric name directly followed by a label matcher or a range.
SELECTOR = re.compile(r"(?<![A-Za-z0-9_:\"'])([A-Za-z_:][A-Za-z0-9_:]*)\s*(?=\{|\[)")


def unknown_series(promql: str) -> list[str]:
    """Series names selected in a PromQL expression that the project does not export."""
    exported = exported_series_names()
    text = ARG_REF.sub("0", promql)  # `[{{args.since}}:{{args.resolution}}]` is a range, not a name
    return sorted({name for name in SELECTOR.findall(text) if name not in exported})


def check_template(source: str, template: dict[str, Any]) -> list[Finding]:
    """Findings for one AnalysisTemplate (guards, limits, providers, duplicates, arg refs)."""
    name = (template.get("metadata") or {}).get("name", "?")
    spec = template.get("spec") or {}
    declared = {a.get("name") for a in spec.get("args") or []}
    found: list[Finding] = []
    seen: set[str] = set()
    for index, metric in enumerate(spec.get("metrics") or []):
        mname = metric.get("name", f"#{index}")
        where = f"AnalysisTemplate/{name}: metric {mname}"

        def add(message: str, where: str = where) -> None:
            found.append(Finding(source, where, message))

        if mname in seen:
            add("duplicate metric name (Argo merges metrics by name)")
        seen.add(mname)
        providers = list((metric.get("provider") or {}).keys())
        if len(providers) != 1:
            add(f"expected exactly one provider, found {len(providers)} ({', '.join(providers)})")
        for key in ("failureLimit", "consecutiveErrorLimit"):
            if key not in metric:
                add(f"{key} is not set (the default hides flapping metrics); set it explicitly")
        count, limit = metric.get("count"), metric.get("failureLimit")
        if isinstance(count, int) and isinstance(limit, int) and 0 < count <= limit:
            add(f"failureLimit {limit} >= count {count}: the metric can never fail")
        query = ((metric.get("provider") or {}).get("prometheus") or {}).get("query", "")
        for unknown in unknown_series(str(query)):
            add(f"query uses {unknown!r}, which metric_names.py does not export")
        if "job" in providers:
            add(
                "Job metrics are not allowed: a Job that does not succeed is a failed "
                "measurement, so an inconclusive check would abort the rollout"
            )
        conditions = {k: metric[k] for k in CONDITIONS if k in metric}
        if not conditions:
            add(
                "no successCondition or failureCondition: Argo Rollouts would count every "
                "measurement as passed"
            )
        if len(conditions) == len(CONDITIONS) and "inconclusiveLimit" not in metric:
            add(
                "inconclusiveLimit is not set: with both conditions a measurement can be "
                "Inconclusive; set the limit explicitly (0 pauses at the first one)"
            )
        for key, expression in conditions.items():
            if not GUARD.match(str(expression)):
                add(f"{key} {expression!r} is not guarded: it must start with 'len(result) > 0 &&'")
        for ref in sorted(set(ARG_REF.findall(str(metric))) - declared):
            add(f"uses {{{{args.{ref}}}}} but the template does not declare arg {ref!r}")
    return found


def required_args(template: dict[str, Any]) -> set[str]:
    """Args of a template that have no default value."""
    return {
        a["name"]
        for a in (template.get("spec") or {}).get("args") or []
        if "value" not in a and "valueFrom" not in a
    }


def arg_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """Every arg a template declares, with its default value (None when it has none)."""
    return {a["name"]: a.get("value") for a in (template.get("spec") or {}).get("args") or []}


def metric_names(template: dict[str, Any]) -> list[str]:
    """Metric names of a template, in order."""
    return [m.get("name", "") for m in (template.get("spec") or {}).get("metrics") or []]


def check_rule_names(source: str, rule_doc: dict[str, Any]) -> list[Finding]:
    """PrometheusRule expressions may only select series the project exports."""
    name = (rule_doc.get("metadata") or {}).get("name", "?")
    found: list[Finding] = []
    for group in (rule_doc.get("spec") or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            label = rule.get("alert") or rule.get("record") or "?"
            for unknown in unknown_series(str(rule.get("expr", ""))):
                found.append(
                    Finding(
                        source,
                        f"PrometheusRule/{name}: {label}",
                        f"expr uses {unknown!r}, which metric_names.py does not export",
                    )
                )
    return found
