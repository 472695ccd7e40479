"""Check that every PromQL expression in the repository names only exported metrics.

Sources: Prometheus rule files and promtool tests under ``monitoring/``, Grafana dashboards
(``monitoring/grafana/*.json``), and Argo ``AnalysisTemplate``/``ClusterAnalysisTemplate`` and
``PrometheusRule`` objects anywhere under ``environments/``. Allowed names are those of
:func:`pipelines.monitoring.metric_names.exported_series_names`, the series Prometheus itself
writes (:data:`PROMETHEUS_SERIES`) and names defined by recording rules in the same sources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from pipelines.monitoring import promql
from pipelines.monitoring.metric_names import exported_series_names

# Series Prometheus creates itself for every target or alert, not exported by any code.
PROMETHEUS_SERIES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})
_SERIES_NAME = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)")


def _yaml_docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def promtool_input_series(doc: Any, where: str) -> Iterable[tuple[str, str]]:
    """``(location, series name)`` of every input series of a promtool test file."""
    for test in (doc or {}).get("tests") or [] if isinstance(doc, dict) else []:
        for series in test.get("input_series") or []:
            match = _SERIES_NAME.match(str(series.get("series", "")))
            if match:
                yield f"{where}: test {test.get('name')!r} input series", match.group(1)


def collect(root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]], set[str]]:
    """Expressions, bare series names and recorded names found under ``root``.

    Returns:
        ``(location, expr)`` pairs, ``(location, name)`` pairs from promtool input series, and
        the names recording rules define.
    """
    exprs: list[tuple[str, str]] = []
    series: list[tuple[str, str]] = []
    rule_docs: list[Any] = []
    monitoring = root / "monitoring"
    for path in sorted(monitoring.rglob("*.yml")) + sorted(monitoring.rglob("*.yaml")):
        rel = str(path.relative_to(root))
        for doc in _yaml_docs(path):
            if isinstance(doc, dict) and "groups" in doc:
                rule_docs.append(doc)
                exprs.extend(promql.rule_expressions(doc, rel))
            series.extend(promtool_input_series(doc, rel))
    for path in sorted(monitoring.rglob("*.json")):
        rel = str(path.relative_to(root))
        exprs.extend(promql.dashboard_expressions(json.loads(path.read_text("utf-8")), rel))
    environments = root / "environments"
    for path in sorted(environments.rglob("*.yaml")) + sorted(environments.rglob("*.yml")):
        rel = str(path.relative_to(root))
        for doc in _yaml_docs(path):
            if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule":
                rule_docs.append(doc)
                exprs.extend(promql.rule_expressions(doc, rel))
            exprs.extend(promql.analysis_queries(doc, rel))
    return exprs, series, promql.recorded_names(rule_docs)


def problems(
    exprs: Iterable[tuple[str, str]],
    series: Iterable[tuple[str, str]],
    allowed: set[str],
) -> list[str]:
    """One line per unknown metric name or unknown function (empty when all is well)."""
    out: list[str] = []
    for where, expr in exprs:
        found = promql.names_in(expr)
        for name in sorted(found.metrics - allowed):
            out.append(f"{where}: unknown metric {name!r} (not in metric_names.py)")
        for name in sorted(found.unknown_functions):
            out.append(f"{where}: unknown PromQL function {name!r}")
        if not found.metrics:
            out.append(f"{where}: no metric name found in {expr.strip()!r}")
    for where, name in series:
        if name not in allowed:
            out.append(f"{where}: unknown metric {name!r} (not in metric_names.py)")
    return out


def check_repository(root: Path) -> tuple[list[str], int]:
    """Problems in the repository at ``root`` and the number of expressions checked."""
    exprs, series, recorded = collect(root)
    allowed = exported_series_names() | PROMETHEUS_SERIES | recorded
    return problems(exprs, series, allowed), len(exprs)
