"""Typed params for drift and feature-health monitoring (owned by the operations work)."""

from __future__ import annotations

from pipelines.params_base import StrictModel


class MonitoringParams(StrictModel):
    """Drift and feature-health settings."""
