"""Typed params for the strategy service and canary analysis (owned by the service work)."""

from __future__ import annotations

from pipelines.params_base import StrictModel


class ServingParams(StrictModel):
    """Strategy service settings."""
