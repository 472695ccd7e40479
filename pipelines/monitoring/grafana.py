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


def row(title: str) -> Panel:
    """A full-width row header; the panels after it start on a new line below it."""
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(panels: list[Panel]) -> list[Panel]:
    """Panels two per line (12 wide, 8 high), rows full width; ids in order."""
    placed, x, y = [], 0, 0
    for index, item in enumerate(panels):
        if item["type"] == "row":
            if x:
                x, y = 0, y + 8
            placed.append({**item, "id": index + 1, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
            y += 1
            continue
        placed.append({**item, "id": index + 1, "gridPos": {"h": 8, "w": 12, "x": x, "y": y}})
        x, y = (12, y) if x == 0 else (0, y + 8)
    return placed


def dashboard(
    uid: str, title: str, panels: list[Panel], extra_vars: list[dict[str, Any]]
) -> dict[str, Any]:
    """A dashboard with panels laid out two per row and a Prometheus datasource variable."""
    laid_out = layout(panels)
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
