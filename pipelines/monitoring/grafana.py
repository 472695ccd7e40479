"""Grafana dashboard JSON building blocks (pure: no I/O)."""

from __future__ import annotations

from typing import Any

Panel = dict[str, Any]


def panel(
    title: str,
    exprs: list[tuple[str, str]],
    unit: str = "short",
    kind: str = "timeseries",
    description: str = "",
) -> Panel:
    """One panel: ``exprs`` are ``(expr, legend)`` pairs; position is set by :func:`dashboard`."""
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def dashboard(
    uid: str, title: str, panels: list[Panel], extra_vars: list[dict[str, Any]]
) -> dict[str, Any]:
    """A dashboard with panels laid out two per row and a Prometheus datasource variable."""
    laid_out = []
    for index, item in enumerate(panels):
        laid_out.append(
            {
                **item,
                "id": index + 1,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
            }
        )
    datasource = {
        "name": "datasource",
        "type": "datasource",
        "query": "prometheus",
        "label": "Prometheus",
    }
    return {
        "uid": uid,
        "title": title,
        "tags": ["trading-pipelines"],
        "timezone": "utc",
        "schemaVersion": 39,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [datasource, *extra_vars]},
        "panels": laid_out,
    }
