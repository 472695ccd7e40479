"""Typed params for training and the promotion gates (owned by the training work)."""

from __future__ import annotations

from pipelines.params_base import StrictModel


class TrainingParams(StrictModel):
    """Training, tuning, backtest and model-card settings."""


class GatesParams(StrictModel):
    """Promotion gates per environment."""
