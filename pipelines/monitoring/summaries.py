"""Headline figures of the data reports: what DVC declares as metrics (pure functions).

The validation and data-health reports hold detail per instrument and per feature (thousands
of values); declared as DVC metrics they made ``dvc metrics show`` print lines of 14,000
characters. They are plain outputs now, and each stage also writes a few headline figures
under ``reports/summary/``, the files ``dvc metrics show`` and ``dvc metrics diff`` read.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

SUMMARY_DIR = "summary"


def summary_path(reports: str | Path, name: str) -> Path:
    """``<reports>/summary/<name>.json``."""
    return Path(reports) / SUMMARY_DIR / f"{name}.json"


def validation_summary(report: dict[str, Any]) -> dict[str, Any]:
    """Rows kept and set aside, and the completeness ratio, of a validation report."""
    return {
        "rows_valid": report.get("rows_valid"),
        "quarantined": report.get("rows_quarantined"),
        "completeness": (report.get("completeness") or {}).get("ratio"),
    }


def data_health_summary(report: dict[str, Any]) -> dict[str, Any]:
    """Status, findings and the largest feature PSI of a data-health report."""
    psis = [
        float(v["psi"])
        for v in (report.get("features") or {}).values()
        if isinstance(v, dict) and isinstance(v.get("psi"), int | float)
    ]
    finite = [p for p in psis if math.isfinite(p)]
    counts = report.get("counts") or {}
    return {
        "status": report.get("status"),
        "critical": counts.get("critical"),
        "warning": counts.get("warning"),
        "psi_max": max(finite) if finite else None,
    }
