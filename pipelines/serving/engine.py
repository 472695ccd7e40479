"""The signal engine: validated bars in, target position out, with breaker, faults and metrics.

Used by the HTTP app and, in process, by the rehearsal. Features come from
:func:`pipelines.data.features.latest_features` on the instrument's buffer: the same kernels
as offline, evaluated for the latest bar only.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.data.features import latest_features, per_instrument_feature_names
from pipelines.errors import PipelineError
from pipelines.registry.bundle import ModelBundle
from pipelines.serving.breaker import CircuitBreaker
from pipelines.serving.metrics import ServiceMetrics
from pipelines.serving.params import FaultInjection, ServingParams
from pipelines.serving.single_row import SingleRowPredictor
from pipelines.serving.state import (
    OHLCV_FEATURES,
    BadRequest,
    Bar,
    InstrumentState,
    parse_bars,
    required_bars,
)
from pipelines.serving.tracking import SignalTracking

Reply = tuple[int, dict[str, Any]]


class InjectedFault(Exception):
    """An error raised on purpose by the fault-injection test hook."""


def injection_from_env(base: FaultInjection) -> FaultInjection:
    """Apply the ``SERVING_INJECT_*`` environment variables (test hooks) over the params."""
    env = {
        "error_rate": os.environ.get("SERVING_INJECT_ERROR_RATE"),
        "latency_ms": os.environ.get("SERVING_INJECT_LATENCY_MS"),
        "latency_rate": os.environ.get("SERVING_INJECT_LATENCY_RATE"),
    }
    updates = {k: float(v) for k, v in env.items() if v not in (None, "")}
    return FaultInjection.model_validate({**base.model_dump(), **updates})


@dataclass(frozen=True)
class Signal:
    """The model's answer for one instrument at its latest bar."""

    position: float
    confidence: float | None
    prediction: float | None
    status: str


class SignalEngine:
    """Per-instrument state, the model, the circuit breaker and the metrics of one service."""

    def __init__(
        self,
        bundle: ModelBundle,
        version: str,
        instruments: Sequence[str],
        params: ServingParams,
        metrics: ServiceMetrics,
        injection: FaultInjection | None = None,
        clock: Callable[[], float] = time.monotonic,
        sha256: str = "",
    ) -> None:
        self.bundle = bundle
        self.version = version
        # Answers name the bundle digest, so a client (the deploy's smoke test) can check it.
        self.sha256 = sha256
        self.params = params
        self.metrics = metrics
        self.clock = clock
        self.need_ohlcv = bool(OHLCV_FEATURES & set(bundle.feature_names))
        online = set(per_instrument_feature_names(bundle.feature_params, self.need_ohlcv))
        missing = [name for name in bundle.feature_names if name not in online]
        if missing:
            raise PipelineError(
                f"model bundle needs features the service cannot compute from one instrument's "
                f"bars: {', '.join(missing)} (train with features.cross_sectional: false)"
            )
        self.window = required_bars(bundle.feature_params, self.need_ohlcv)
        if params.buffer_bars < self.window:
            raise PipelineError(
                f"serving.buffer_bars: {params.buffer_bars} is shorter than the {self.window} "
                "bars the model's features need"
            )
        # One thread: for one row, OpenMP's thread start-up costs more than the prediction
        # (about 10 ms on a busy 2-core host).
        self._predictor = SingleRowPredictor(bundle.booster)
        self.states = {name: InstrumentState(params.buffer_bars) for name in instruments}
        self._locks = {name: asyncio.Lock() for name in instruments}
        self.breaker = CircuitBreaker(
            params.breaker.failure_threshold, params.breaker.cooldown_seconds
        )
        self.injection = injection or params.inject
        self._rng = random.Random(self.injection.seed)  # noqa: S311 - test hook, not security
        metrics.declare_instruments(list(instruments))
        centre = 0.5 if bundle.objective == "binary" else 0.0
        self.tracking = SignalTracking(
            metrics.registry, version, list(instruments), bundle.label_horizon, centre
        )

    def predict(self, state: InstrumentState) -> Signal:
        """Features on the buffer's last bars, then the model (pure apart from the booster)."""
        if len(state.bars) < self.window:
            return Signal(0.0, None, None, "warming_up")
        features = latest_features(state.arrays(self.window), self.bundle.feature_params)
        matrix = np.array([features[name] for name in self.bundle.feature_names])
        prediction = self._predictor.predict(matrix)
        if prediction.shape != (1,) or not np.isfinite(prediction[0]):
            raise ValueError(f"model returned {prediction!r}")
        position = float(self.bundle.positions(prediction)[0])
        confidence = float(self.bundle.confidence(prediction)[0])
        return Signal(position, confidence, float(prediction[0]), "ok")

    def _validate(self, header: str | None, body: Any) -> tuple[str, list[Bar]]:
        if not isinstance(body, dict):
            raise BadRequest(400, "body: expected a JSON object with instrument and bars")
        instrument = body.get("instrument")
        if not isinstance(instrument, str) or not instrument:
            raise BadRequest(422, "instrument: expected a non-empty string")
        if header is not None and header != instrument:
            raise BadRequest(
                400, f"X-Instrument header {header!r} differs from body instrument {instrument!r}"
            )
        if instrument not in self.states:
            raise BadRequest(404, f"instrument {instrument!r} is not served by this deployment")
        return instrument, parse_bars(
            body.get("bars"), self.need_ohlcv, self.params.max_bars_per_request
        )

    async def _model_answer(self, state: InstrumentState) -> Signal:
        inj = self.injection
        if inj.latency_ms > 0 and self._rng.random() < inj.latency_rate:
            await asyncio.sleep(inj.latency_ms / 1000.0)
        if inj.error_rate > 0 and self._rng.random() < inj.error_rate:
            raise InjectedFault("injected error (SERVING_INJECT_ERROR_RATE test hook)")
        return self.predict(state)

    def _fail(self, instrument: str, reason: str | None) -> None:
        if reason is not None:
            self.metrics.error(instrument, reason)
        now = self.clock()
        tripped = self.breaker.record_failure(now)
        self.metrics.breaker(self.breaker.is_open(now), tripped)

    async def handle(self, header: str | None, body: Any) -> Reply:
        """Answer one signal request: (HTTP status, JSON payload).

        Requests for one instrument are served one at a time (a lock per instrument), so a
        prediction always sees exactly the bars up to its own request.
        """
        start = self.clock()
        label = header if header in self.states else "unknown"
        try:
            instrument, bars = self._validate(header, body)
        except BadRequest as exc:
            return self._rejected(label, exc, start)
        async with self._locks[instrument]:
            state = self.states[instrument]
            try:
                realised = state.append(bars)
            except BadRequest as exc:
                return self._rejected(instrument, exc, start)
            self.metrics.realised(instrument, realised)
            self.tracking.bars(instrument, state)
            status, payload = await self._answer(instrument, state)
            last = state.bars[-1].timestamp.isoformat()
        self.metrics.answered(instrument, status, self.clock() - start)
        payload.update(
            instrument=instrument,
            timestamp=last,
            model_version=self.version,
            model_sha256=self.sha256,
            realised_returns=len(realised),
        )
        return status, payload

    def _rejected(self, label: str, exc: BadRequest, start: float) -> Reply:
        self._fail(label, None)
        self.metrics.answered(label, exc.status, self.clock() - start)
        return exc.status, {"error": exc.message}

    async def _answer(self, instrument: str, state: InstrumentState) -> Reply:
        if self.breaker.is_open(self.clock()):
            signal = Signal(0.0, None, None, "circuit_open")
        else:
            try:
                answer = self._model_answer(state)
                if self.injection.latency_ms > 0:
                    answer = asyncio.wait_for(answer, self.params.request_timeout_seconds)
                # Otherwise the answer never awaits: a timeout could not interrupt it (wait_for
                # would return its result anyway), and the task wait_for makes costs ~30 us.
                signal = await answer
            except TimeoutError:
                self._fail(instrument, "timeout")
                return 504, {"error": "model answer timed out", "position": state.position}
            except InjectedFault as exc:
                self._fail(instrument, "injected")
                return 500, {"error": str(exc), "position": state.position}
            except ValueError as exc:
                self._fail(instrument, "invalid_output")
                return 500, {"error": f"invalid model output: {exc}", "position": state.position}
            except Exception as exc:  # noqa: BLE001 - any model failure is counted, never fatal
                self._fail(instrument, "exception")
                return 500, {"error": f"model failed: {type(exc).__name__}: {exc}"}
            self.breaker.record_success()
            self.metrics.breaker(False, False)
        self.tracking.position(instrument, state.position, signal.position)
        self.tracking.prediction(instrument, state, signal.prediction)
        state.position = signal.position
        self.metrics.signal(instrument, signal.position, signal.confidence)
        return 200, {
            "position": signal.position,
            "confidence": signal.confidence,
            "prediction": signal.prediction,
            "status": signal.status,
        }
