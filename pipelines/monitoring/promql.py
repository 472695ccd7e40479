"""Metric names used by PromQL expressions, found without a full PromQL parser.

No PromQL parser is available in Python here, so this is a careful tokenizer. It removes, in
order: Go/Argo templates (``{{ ... }}``), Grafana variables (``$var``, ``${var}``), string
literals, label matchers (``{...}``), label lists after ``by``/``without``/``on``/``ignoring``/
``group_left``/``group_right``, range and subquery brackets, durations and numbers. Every
identifier left is a function or aggregation when an opening parenthesis follows it (an unknown
one is reported), a keyword, or a metric name.

Known limits: selectors by ``{__name__="..."}`` and names built by ``label_replace`` are not
seen; a metric whose name equals a function name is only recognised without a following ``(``.
Grafana's ``label_values(metric, label)`` is reduced to its metric first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

FUNCTIONS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "cos",
        "cosh",
        "count_over_time",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "deg",
        "delta",
        "deriv",
        "exp",
        "floor",
        "histogram_count",
        "histogram_fraction",
        "histogram_quantile",
        "histogram_sum",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "mad_over_time",
        "max_over_time",
        "min_over_time",
        "minute",
        "month",
        "pi",
        "predict_linear",
        "present_over_time",
        "quantile_over_time",
        "rad",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sin",
        "sinh",
        "sort",
        "sort_desc",
        "sqrt",
        "stddev_over_time",
        "stdvar_over_time",
        "sum_over_time",
        "tan",
        "tanh",
        "time",
        "timestamp",
        "vector",
        "year",
        "start",
        "end",
    ]
)
AGGREGATIONS = frozenset(
    [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ]
)
KEYWORDS = frozenset(
    [
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "inf",
        "nan",
    ]
)

_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.S)
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_LABEL_LIST = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_DURATION = re.compile(r"(?<![\w:.])(?:\d+(?:ms|[smhdwy]))+(?![\w:])")
_NUMBER = re.compile(r"(?<![\w:.])(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"\blabel_values\s*\(\s*([^,()]*?)\s*(?:,[^()]*)?\)")


@dataclass(frozen=True)
class Names:
    """What an expression refers to: metric names and calls to functions PromQL lacks."""

    metrics: frozenset[str]
    unknown_functions: frozenset[str]


def strip(expr: str) -> str:
    """The expression with everything that cannot be a metric name removed."""
    text = _TEMPLATE.sub(" ", expr)
    text = _STRING.sub(" ", text)
    text = _GRAFANA_VAR.sub(" ", text)
    while True:
        reduced = _MATCHERS.sub(" ", text)
        if reduced == text:
            break
        text = reduced
    text = _LABEL_LIST.sub(" ", text)
    while True:
        reduced = _BRACKETS.sub(" ", text)
        if reduced == text:
            break
        text = reduced
    text = _DURATION.sub(" ", text)
    return _NUMBER.sub(" ", text)


def names_in(expr: str) -> Names:
    """Metric names and unknown function calls of one PromQL expression."""
    text = _LABEL_VALUES.sub(lambda m: f" {m.group(1)} ", expr)
    text = strip(text)
    metrics: set[str] = set()
    unknown: set[str] = set()
    for match in _IDENT.finditer(text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        if word.lower() in KEYWORDS:
            continue
        if rest.startswith("("):
            if word not in FUNCTIONS and word not in AGGREGATIONS:
                unknown.add(word)
        else:
            metrics.add(word)
    return Names(frozenset(metrics), frozenset(unknown))


def rule_expressions(doc: Any, where: str) -> Iterator[tuple[str, str]]:
    """``(location, expr)`` of every rule in a Prometheus rule file or PrometheusRule object."""
    if not isinstance(doc, dict):
        return
    spec = doc.get("spec") if doc.get("kind") == "PrometheusRule" else doc
    for group in (spec or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            yield f"{where}: group {group.get('name')} rule {name}", str(rule.get("expr", ""))


def recorded_names(docs: Iterable[Any]) -> set[str]:
    """Names defined by recording rules (usable by other expressions)."""
    out: set[str] = set()
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        spec = doc.get("spec") if doc.get("kind") == "PrometheusRule" else doc
        for group in (spec or {}).get("groups") or []:
            out.update(r["record"] for r in group.get("rules") or [] if r.get("record"))
    return out


def analysis_queries(doc: Any, where: str) -> Iterator[tuple[str, str]]:
    """``(location, query)`` of every Prometheus metric of an Argo (Cluster)AnalysisTemplate."""
    if not isinstance(doc, dict) or doc.get("kind") not in (
        "AnalysisTemplate",
        "ClusterAnalysisTemplate",
    ):
        return
    name = (doc.get("metadata") or {}).get("name")
    for metric in (doc.get("spec") or {}).get("metrics") or []:
        prometheus = (metric.get("provider") or {}).get("prometheus")
        if prometheus and "query" in prometheus:
            yield f"{where}: {name} metric {metric.get('name')}", str(prometheus["query"])


def dashboard_expressions(dashboard: dict[str, Any], where: str) -> Iterator[tuple[str, str]]:
    """``(location, expr)`` of every panel target and query variable of a Grafana dashboard."""
    stack = list(dashboard.get("panels") or [])
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels") or [])
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield f"{where}: panel {panel.get('title')!r}", str(target["expr"])
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        query = variable.get("query")
        if variable.get("type") == "query" and query:
            text = query.get("query") if isinstance(query, dict) else query
            yield f"{where}: variable {variable.get('name')}", str(text)
