"""Typed params for the data stages: sources, validation, features, labels, health."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from pipelines.params_base import StrictModel

# Durations pandas reads as they are (its non-deprecated unit names), checked without pandas.
_PLAIN_DURATION = re.compile(r"\d+(\.\d+)?(ns|us|ms|s|min|h|D|W)")

Frequency = Literal["daily", "hourly", "minute"]
AssetClass = Literal["equity", "fx", "crypto", "future"]


class SampleSource(StrictModel):
    """The bundled real data shipped in ``data/sample``, with its instrument master."""

    path: str = "data/sample/sp500_20_daily_close.csv.gz"
    instrument: str | None = None
    reference: str | None = "data/sample/instruments.csv"


class MarketDefaults(StrictModel):
    """Reference rows made for instruments the source's instrument master does not list.

    ``market`` names the asset class of a one-file import; ``calendar`` defaults to the
    class's (XNYS, CMES, FX, 24/7); ``currency`` defaults to the pair's quote for FX and
    crypto symbols such as EURUSD or BTCUSDT and to USD on the US calendars (XNYS, XNAS,
    CMES), else it must be given.
    """

    market: AssetClass | None = None
    calendar: str | None = None
    currency: str | None = None


class FileSource(MarketDefaults):
    """CSV or Parquet files, long or wide format, a path or a glob."""

    path: str = "data/incoming/*.csv"
    layout: Literal["auto", "long", "wide"] = "auto"
    instrument: str | None = None
    reference: str | None = None


class S3Source(MarketDefaults):
    """Objects in any S3-compatible store, read through boto3."""

    bucket: str = "market-data"
    prefix: str = "bars/"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    layout: Literal["auto", "long", "wide"] = "auto"
    instrument: str | None = None
    reference_prefix: str | None = "reference/"


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


class EventsSource(StrictModel):
    """Timestamped news and sentiment events per instrument (CSV or Parquet)."""

    source: Literal["none", "file", "s3"] = "none"
    path: str = "data/sample/news_sentiment.csv.gz"
    s3_prefix: str = "events/"


class DataParams(StrictModel):
    """Where bars come from and how often they arrive."""

    source: Literal["sample", "file", "s3", "exchange"] = "sample"
    frequency: Frequency = "daily"
    sample: SampleSource = SampleSource()
    file: FileSource = FileSource()
    s3: S3Source = S3Source()
    exchange: ExchangeSource = ExchangeSource()
    events: EventsSource = EventsSource()


class ValidationParams(StrictModel):
    """Row rules and anomaly thresholds of ``pipelines data validate``."""

    robust_z_threshold: float = Field(default=25.0, gt=0)
    stale_run_length: PositiveInt = 10
    max_gap_bars: PositiveInt = 5
    max_integrity_rejects: int = Field(default=0, ge=0)


class EventFeatureParams(StrictModel):
    """News and sentiment features, joined as of publication time plus a lag."""

    enabled: bool = False
    availability_lag: str = "5min"
    windows: list[PositiveInt] = Field(default_factory=lambda: [1, 5])

    @model_validator(mode="after")
    def _lag_is_a_duration(self) -> EventFeatureParams:
        # Every `pipelines` command loads the params and most never use pandas (0.4-0.6 s to
        # import): a plain "<number><unit>" is a valid, non-negative pandas duration as it is.
        if _PLAIN_DURATION.fullmatch(self.availability_lag):
            return self
        import pandas as pd

        try:
            lag = pd.Timedelta(self.availability_lag)
        except ValueError:
            raise ValueError(
                f"availability_lag must be a duration such as 5min or 1h, got "
                f"{self.availability_lag!r}"
            ) from None
        if lag < pd.Timedelta(0):
            raise ValueError(
                f"availability_lag must not be negative, got {self.availability_lag!r}"
            )
        return self


class FeatureParams(StrictModel):
    """Windows of the leak-free features."""

    return_horizons: list[PositiveInt] = Field(default_factory=lambda: [1, 5, 21])
    volatility_windows: list[PositiveInt] = Field(default_factory=lambda: [21, 63])
    momentum_windows: list[PositiveInt] = Field(default_factory=lambda: [63, 126])
    zscore_windows: list[PositiveInt] = Field(default_factory=lambda: [21])
    rsi_window: PositiveInt = 14
    cross_sectional: bool = True
    events: EventFeatureParams = EventFeatureParams()


class LabelParams(StrictModel):
    """The forward-return label, computed apart from the features."""

    horizon: PositiveInt = 5


class ScaleParams(StrictModel):
    """How the features and train stages spread over processes (locally) or pods (Argo)."""

    data_partitions: PositiveInt = 1  # instrument partitions (crc32 of the name mod this)
    data_workers: PositiveInt = 1  # processes computing them at once; Argo: parallelism
    cv_workers: PositiveInt = 1  # processes training the CV splits (walk-forward and CPCV)
    cv_cache: str = ".cache/cv_splits"  # where the split workers leave their predictions


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

    @model_validator(mode="after")
    def _warning_below_critical(self) -> HealthParams:
        for name in ("psi", "missing"):
            warning, critical = getattr(self, f"{name}_warning"), getattr(self, f"{name}_critical")
            if not warning < critical:
                raise ValueError(
                    f"{name}_warning ({warning:g}) must be below {name}_critical ({critical:g})"
                )
        return self
