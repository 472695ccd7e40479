"""Typed params for the data stages: sources, validation, features, labels, health."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from pipelines.params_base import StrictModel

Frequency = Literal["daily", "hourly", "minute"]


class SampleSource(StrictModel):
    """The bundled real data shipped in ``data/sample``."""

    path: str = "data/sample/sp500_20_daily_close.csv.gz"
    instrument: str | None = None


class FileSource(StrictModel):
    """CSV or Parquet files, long or wide format, a path or a glob."""

    path: str = "data/incoming/*.csv"
    layout: Literal["auto", "long", "wide"] = "auto"
    instrument: str | None = None


class S3Source(StrictModel):
    """Objects in any S3-compatible store, read through boto3."""

    bucket: str = "market-data"
    prefix: str = "bars/"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    layout: Literal["auto", "long", "wide"] = "auto"
    instrument: str | None = None


class ExchangeSource(StrictModel):
    """A crypto exchange's public OHLCV endpoint."""

    exchange: str = "binance"
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT"])
    timeframe: str = "1h"
    since: str = "2024-01-01T00:00:00Z"
    page_limit: PositiveInt = 1000
    max_retries: PositiveInt = 5
    backoff_seconds: float = Field(default=1.0, gt=0)
    max_pages: PositiveInt = 1000


class DataParams(StrictModel):
    """Where bars come from and how often they arrive."""

    source: Literal["sample", "file", "s3", "exchange"] = "sample"
    frequency: Frequency = "daily"
    sample: SampleSource = SampleSource()
    file: FileSource = FileSource()
    s3: S3Source = S3Source()
    exchange: ExchangeSource = ExchangeSource()


class ValidationParams(StrictModel):
    """Row rules and anomaly thresholds of ``pipelines data validate``."""

    robust_z_threshold: float = Field(default=25.0, gt=0)
    stale_run_length: PositiveInt = 10
    max_gap_bars: PositiveInt = 5
    max_integrity_rejects: int = Field(default=0, ge=0)


class FeatureParams(StrictModel):
    """Windows of the leak-free features."""

    return_horizons: list[PositiveInt] = Field(default_factory=lambda: [1, 5, 21])
    volatility_windows: list[PositiveInt] = Field(default_factory=lambda: [21, 63])
    momentum_windows: list[PositiveInt] = Field(default_factory=lambda: [63, 126])
    zscore_windows: list[PositiveInt] = Field(default_factory=lambda: [21])
    rsi_window: PositiveInt = 14
    cross_sectional: bool = True


class LabelParams(StrictModel):
    """The forward-return label, computed apart from the features."""

    horizon: PositiveInt = 5


class HealthParams(StrictModel):
    """Thresholds of ``pipelines data health``."""

    as_of: str | None = None
    max_staleness_bars: float = Field(default=3.0, gt=0)
    psi_window_bars: PositiveInt = 252
    psi_bins: PositiveInt = 10
    snapshot: str = "data/health/feature_snapshot.json"
    psi_warning: float = 0.2
    psi_critical: float = 0.3
    missing_warning: float = 0.05
    missing_critical: float = 0.10
