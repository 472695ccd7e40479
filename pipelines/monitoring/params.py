"""Typed params for drift and feature-health monitoring (owned by the operations work).

The PSI and missing-rate thresholds are not repeated here: they live once, in ``health`` of
params.yaml (:class:`pipelines.data.params.HealthParams`), and both the nightly data health
stage and the hourly feature-health check read them from there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from pipelines.params_base import StrictModel

Binning = Literal["quantile", "evidently"]


class MonitoringParams(StrictModel):
    """Drift and feature-health settings.

    Attributes:
        binning: ``quantile`` (reference deciles, open-ended outer bins: the convention the
            0.2/0.3 PSI thresholds come from) or ``evidently`` (equal-width Sturges bins over
            both samples and Evidently's zero-fill rule, to cross-check against Evidently).
        n_bins: Number of quantile bins for ``quantile`` binning.
        epsilon: Share given to an empty bin (``quantile`` binning) so the log stays finite.
        window_bars: The live window: this many latest timestamps of the feature store.
        manifest: Manifest whose model bundle holds the training reference.
        report: JSON report written by ``pipelines monitor health``.
        drift_report: JSON report written by ``pipelines monitor drift``.
        textfile_dir: Folder of Prometheus textfile-collector files (``*.prom``).
    """

    binning: Binning = "quantile"
    n_bins: PositiveInt = Field(default=10, ge=2)
    epsilon: float = Field(default=1e-4, gt=0, lt=0.01)
    window_bars: PositiveInt = 21
    manifest: str = "environments/prod/model.yaml"
    report: str = "reports/feature_health.json"
    drift_report: str = "reports/drift.json"
    textfile_dir: str = "reports/metrics"
