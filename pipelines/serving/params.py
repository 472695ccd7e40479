"""Typed params for the strategy service, canary analysis and rehearsal (owned by the service work).

Thresholds of the canary analysis are NOT here: they are pinned per environment in
``environments/<env>/settings.yaml`` (``analysis:``) and read from there.
"""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from pipelines.params_base import StrictModel


class BreakerParams(StrictModel):
    """The circuit breaker: opens after consecutive failures, closes after a cool-down."""

    failure_threshold: PositiveInt = 5
    cooldown_seconds: PositiveFloat = 30.0


class LimitParams(StrictModel):
    """What one client may send and how long it may take (``docs/serving.md``, Limits).

    Checked by the HTTP protocol (:mod:`pipelines.serving.limits`) before the app sees a request.
    """

    max_body_bytes: PositiveInt = 1_048_576
    max_header_bytes: PositiveInt = 16_384
    read_timeout_seconds: PositiveFloat = 10.0
    keep_alive_seconds: PositiveFloat = 75.0
    drain_idle_seconds: PositiveFloat = 2.0
    shutdown_timeout_seconds: PositiveFloat = 20.0


class StartupParams(StrictModel):
    """How long a failed or hung model load keeps the process alive before liveness fails."""

    failure_grace_seconds: float = Field(default=60.0, ge=0.0)
    load_timeout_seconds: PositiveFloat = 300.0


class FaultInjection(StrictModel):
    """TEST HOOKS ONLY (rehearsal and the end-to-end test): off by default.

    The environment variables ``SERVING_INJECT_ERROR_RATE``, ``SERVING_INJECT_LATENCY_MS`` and
    ``SERVING_INJECT_LATENCY_RATE`` override these values when set.
    """

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    latency_ms: float = Field(default=0.0, ge=0.0)
    latency_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    seed: int = 0


class RehearsalParams(StrictModel):
    """How ``pipelines rehearse`` replays a held-out period."""

    data_path: str = "data/sample/sp500_20_daily_close.csv.gz"
    holdout_bars: PositiveInt = 252
    report: str = "reports/rehearsal_{env}.md"


class ServingParams(StrictModel):
    """Strategy service settings."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    metrics_port: int = Field(default=9102, ge=1, le=65535)
    buffer_bars: PositiveInt = 300
    max_bars_per_request: PositiveInt = 2000
    request_timeout_seconds: PositiveFloat = 1.0
    model_cache_dir: str = ".cache/models"
    latency_buckets: list[PositiveFloat] = Field(
        default_factory=lambda: [
            0.0005,
            0.001,
            0.0025,
            0.005,
            0.01,
            0.025,
            0.05,
            0.1,
            0.15,
            0.2,
            0.25,
            0.5,
            1.0,
            2.5,
        ]
    )
    breaker: BreakerParams = BreakerParams()
    limits: LimitParams = LimitParams()
    startup: StartupParams = StartupParams()
    inject: FaultInjection = FaultInjection()
    rehearsal: RehearsalParams = RehearsalParams()
