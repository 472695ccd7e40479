"""The signal engine: validated bars in, target position out, with breaker, faults and metrics.

Used by the HTTP app and, in process, by the rehearsal. Features come from
:func:`pipelines.data.instrument_features.latest_features` on the instrument's buffer: the same
kernels as offline, evaluated for the latest bar only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.data.instrument_features import latest_features, per_instrument_feature_names
from pipelines.errors import PipelineError
from pipelines.registry.bundle import ModelBundle
from pipelines.serving.breaker import InstrumentBreakers
from pipelines.serving.metrics import LIVE, ServiceMetrics
from pipelines.serving.params import FaultInjection, ServingParams
from pipelines.serving.single_row import SingleRowPredictor
from pipelines.serving.state import (
    OHLCV_FEATURES,
    BadRequest,
    Bar,
    InstrumentState,
    parse_bars,
    parse_json_body,
    required_bars,
    shown,
)
from pipelines.serving.tracking import SignalTracking

Reply = tuple[int, dict[str, Any]]
UNKNOWN = "unknown"
log = logging.getLogger("pipelines.serving")


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
        self.breaker = InstrumentBreakers(
            instruments, params.breaker.failure_threshold, params.breaker.cooldown_seconds
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
                400,
                f"X-Instrument header {shown(header)} differs from body instrument "
                f"{shown(instrument)}",
            )
        if instrument not in self.states:
            raise BadRequest(
                404, f"instrument {shown(instrument)} is not served by this deployment"
            )
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

    def label(self, header: str | None) -> str:
        """The ``instrument`` metric label of a request: a served instrument or ``unknown``."""
        return header if header is not None and header in self.states else UNKNOWN

    def failed(self, instrument: str, reason: str, traffic: str = LIVE) -> None:
        """Count one failure of the service itself; it trips the instrument's breaker only.

        A failure that cannot be attributed to a served instrument is counted and trips nothing.
        """
        self.metrics.error(instrument, reason, traffic)
        if instrument not in self.states:
            return
        now = self.clock()
        breaker = self.breaker[instrument]
        tripped = breaker.record_failure(now)
        self.metrics.breaker(instrument, breaker.is_open(now), reason if tripped else None)

    async def handle_raw(self, header: str | None, raw: bytes, traffic: str = LIVE) -> Reply:
        """Answer one signal request from its raw body (JSON parsed here, errors are 4xx)."""
        try:
            body = parse_json_body(raw)
        except BadRequest as exc:
            return self.rejected(self.label(header), exc, self.clock(), traffic)
        return await self.handle(header, body, traffic)

    async def handle(self, header: str | None, body: Any, traffic: str = LIVE) -> Reply:
        """Answer one signal request: (HTTP status, JSON payload).

        Requests for one instrument are served one at a time (a lock per instrument), so a
        prediction always sees exactly the bars up to its own request. Bad input is a 4xx and
        touches no breaker; an unexpected error is a 500 counted as ``internal``. ``traffic``
        labels the request's metrics: ``shadow`` for a copy mirrored by the mesh, else ``live``.
        """
        start = self.clock()
        label = self.label(header)
        try:
            instrument, bars = self._validate(header, body)
        except BadRequest as exc:
            return self.rejected(label, exc, start, traffic)
        except Exception:  # a bug reached through client input: counted, trips nothing
            log.exception("internal error while validating a request")
            return self._internal(label, start, False, traffic)
        try:
            async with self._locks[instrument]:
                state = self.states[instrument]
                try:
                    realised = state.append(bars)
                except BadRequest as exc:
                    return self.rejected(instrument, exc, start, traffic)
                self.metrics.realised(instrument, realised, traffic)
                self.tracking.bars(instrument, state)
                self.metrics.last_bar(instrument, state.bars[-1].timestamp.timestamp(), traffic)
                status, payload = await self._answer(instrument, state, traffic)
                last = state.bars[-1].timestamp.isoformat()
        except Exception:
            log.exception("internal error while answering %s", instrument)
            return self._internal(instrument, start, True, traffic)
        self.metrics.answered(instrument, status, self.clock() - start, traffic)
        payload.update(
            instrument=instrument,
            timestamp=last,
            model_version=self.version,
            model_sha256=self.sha256,
            realised_returns=len(realised),
        )
        return status, payload

    def rejected(self, label: str, exc: BadRequest, start: float, traffic: str = LIVE) -> Reply:
        """Answer a bad request with its 4xx: counted as a request, never as a failure."""
        self.metrics.answered(label, exc.status, self.clock() - start, traffic)
        return exc.status, {"error": exc.message}

    def _internal(self, label: str, start: float, trips: bool, traffic: str = LIVE) -> Reply:
        if trips:
            self.failed(label, "internal", traffic)
        else:
            self.metrics.error(label, "internal", traffic)
        self.metrics.answered(label, 500, self.clock() - start, traffic)
        return 500, {"error": "internal error (logged by the service)"}

    async def _answer(self, instrument: str, state: InstrumentState, traffic: str) -> Reply:
        breaker = self.breaker[instrument]
        if breaker.is_open(self.clock()):
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
                self.failed(instrument, "timeout", traffic)
                return 504, {"error": "model answer timed out", "position": state.position}
            except InjectedFault as exc:
                self.failed(instrument, "injected", traffic)
                return 500, {"error": str(exc), "position": state.position}
            except ValueError as exc:
                self.failed(instrument, "invalid_output", traffic)
                return 500, {"error": f"invalid model output: {exc}", "position": state.position}
            except Exception as exc:  # noqa: BLE001 - any model failure is counted, never fatal
                self.failed(instrument, "exception", traffic)
                return 500, {"error": f"model failed: {type(exc).__name__}: {exc}"}
            if breaker.failures or breaker.opened_at is not None:
                breaker.record_success()
                self.metrics.breaker(instrument, False, None)
        self.tracking.position(instrument, state.position, signal.position)
        self.tracking.prediction(instrument, state, signal.prediction)
        state.position = signal.position
        self.metrics.signal(instrument, signal.position, signal.confidence, traffic)
        return 200, {
            "position": signal.position,
            "confidence": signal.confidence,
            "prediction": signal.prediction,
            "status": signal.status,
        }
