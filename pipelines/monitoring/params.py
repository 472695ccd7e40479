"""Typed params for drift and feature-health monitoring (owned by the operations work).

The PSI and missing-rate thresholds are not repeated here: they live once, in ``health`` of
params.yaml (:class:`pipelines.data.params.HealthParams`), and both the nightly data health
stage and the hourly feature-health check read them from there. The other checks of the
hourly run have their limits under ``monitoring.checks`` (warning and critical each); how
they were chosen is written beside them in params.yaml.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from pipelines.params_base import StrictModel

Binning = Literal["quantile", "evidently"]


class Limits(StrictModel):
    """A figure's warning and critical limits; ``higher_is_worse`` says which way trips them."""

    warning: float
    critical: float
    higher_is_worse: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        worse = (
            self.critical >= self.warning
            if self.higher_is_worse
            else self.critical <= (self.warning)
        )
        if not worse:
            raise ValueError(
                f"critical {self.critical} must be at least as bad as warning {self.warning}"
            )
        return self


class OutlierParams(Limits):
    """Share of live values beyond the reference's Tukey fences ``Q1 - k*IQR .. Q3 + k*IQR``."""

    iqr_multiplier: float = Field(default=3.0, gt=0)


class CorrelationParams(Limits):
    """Mean absolute change of the pairwise Pearson correlations; the pairs that moved most."""

    top_pairs: PositiveInt = 5


class ImportanceParams(Limits):
    """Spearman rank correlation of mean |SHAP| on the live window against the reference."""

    higher_is_worse: bool = False
    max_rows: PositiveInt = 1000
    top_movers: PositiveInt = 3


class PredictionPowerParams(StrictModel):
    """Rolling IC and hit rate of the model's predictions against realised returns.

    Only rows after the model's training span count (in-sample rows would flatter it), over the
    latest ``window_bars`` timestamps with a realised label; fewer than ``min_pairs`` such rows
    gives no verdict. The drops are measured against the walk-forward backtest's figures that
    the bundle carries.
    """

    window_bars: PositiveInt = 126
    min_pairs: PositiveInt = 200
    ic_drop: Limits = Limits(warning=0.06, critical=0.10)
    hit_rate_drop: Limits = Limits(warning=0.07, critical=0.11)


class CheckParams(StrictModel):
    """Warning and critical limits of the hourly checks besides PSI and missing rate."""

    outliers: OutlierParams = OutlierParams(warning=0.10, critical=0.15)
    value_range: Limits = Limits(warning=0.02, critical=0.05)
    correlation: CorrelationParams = CorrelationParams(warning=0.13, critical=0.20)
    importance: ImportanceParams = ImportanceParams(warning=0.9, critical=0.7)
    prediction_power: PredictionPowerParams = PredictionPowerParams()
    confidence: Limits = Limits(warning=0.2, critical=0.3)


class MonitoringParams(StrictModel):
    """Drift and feature-health settings.

    Attributes:
        binning: ``quantile`` (reference deciles, open-ended outer bins: the convention the
            0.2/0.3 PSI thresholds come from) or ``evidently`` (equal-width Sturges bins over
            both samples and Evidently's zero-fill rule, to cross-check against Evidently).
        n_bins: Number of quantile bins for ``quantile`` binning.
        epsilon: Share given to an empty bin (``quantile`` binning) so the log stays finite.
        window_bars: The live window: this many latest timestamps of the feature store.
        window_covers_lookback: PSI and KS of a feature use at least as many latest bars as
            the feature looks back (``mom_126``: 126), so a slow feature is judged on more
            than a handful of independent values.
        manifest: Manifest whose model bundle holds the training reference.
        report: JSON report written by ``pipelines monitor health``.
        drift_report: JSON report written by ``pipelines monitor drift``.
        textfile_dir: Folder of Prometheus textfile-collector files (``*.prom``).
        checks: Limits of the other hourly checks.
    """

    binning: Binning = "quantile"
    n_bins: PositiveInt = Field(default=10, ge=2)
    epsilon: float = Field(default=1e-4, gt=0, lt=0.01)
    window_bars: PositiveInt = 21
    window_covers_lookback: bool = True
    manifest: str = "environments/prod/model.yaml"
    report: str = "reports/feature_health.json"
    drift_report: str = "reports/drift.json"
    textfile_dir: str = "reports/metrics"
    checks: CheckParams = CheckParams()
