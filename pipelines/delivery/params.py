"""Typed params for promotion, rollback and delivery (owned by the delivery work)."""

from __future__ import annotations

from pipelines.params_base import StrictModel


class DeliveryParams(StrictModel):
    """Promotion and rollback settings."""
