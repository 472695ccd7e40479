"""The controllers the cluster process starts, in order (and stops in reverse order).

The Argo Workflows executor is always there. The Rollouts side (controller, analysis, mesh,
market feed, ServiceMonitor -> Prometheus targets) lives in its own modules; each that exists
exposes ``controllers(home: Path) -> list[Controller]`` and is started after the executor.
A module that is not there yet is skipped; one that fails to import stops the cluster (a
broken controller must not pass unnoticed).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from twin.cluster.argo_executor import ArgoExecutor
from twin.cluster.interfaces import Controller

OPTIONAL = (
    "twin.cluster.rollouts",
    "twin.cluster.analysis",
    "twin.cluster.mesh",
    "twin.cluster.feed",
    "twin.cluster.monitoring",
)


def build(home: Path) -> list[Controller]:
    """Every controller of the cluster process."""
    found: list[Controller] = [ArgoExecutor()]
    for name in OPTIONAL:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        factory = getattr(module, "controllers", None)
        if factory is not None:
            found.extend(factory(home))
    return found
