"""Prometheus collectors of the service, built from the specs in ``metric_names`` only.

Each service instance gets its own ``CollectorRegistry`` (never the global one), so tests and the
rehearsal can run several engines in one process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from pipelines.monitoring import metric_names as names
from pipelines.monitoring.metric_names import MetricSpec

CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# Failures of the service itself: each one counts towards the instrument's circuit breaker.
TRIP_REASONS = ("exception", "timeout", "invalid_output", "injected", "internal")
# Every 5xx of the signal route has one of these reasons (not_ready: 503 before the model is up).
ERROR_REASONS = (*TRIP_REASONS, "not_ready")
LIVE, SHADOW = names.TRAFFIC_LIVE, names.TRAFFIC_SHADOW


def _counter(spec: MetricSpec, registry: CollectorRegistry) -> Counter:
    return Counter(spec.name, spec.help, spec.labels, registry=registry)


def _gauge(spec: MetricSpec, registry: CollectorRegistry) -> Gauge:
    return Gauge(spec.name, spec.help, spec.labels, registry=registry)


def _histogram(
    spec: MetricSpec, registry: CollectorRegistry, buckets: Sequence[float]
) -> Histogram:
    return Histogram(spec.name, spec.help, spec.labels, buckets=tuple(buckets), registry=registry)


class ProcessMetrics(Collector):
    """CPU time and resident memory of this process (the system dashboard's panels).

    prometheus_client's ``ProcessCollector`` (Linux ``/proc``), limited to the process series
    that ``metric_names`` declares, so the service exports no name outside that module.
    """

    def __init__(self) -> None:
        self._process = ProcessCollector(registry=None)
        self._families = {
            names.PROCESS_CPU.name.removesuffix("_total"),
            names.PROCESS_MEMORY.name,
        }

    def collect(self) -> Iterator[Metric]:
        """The declared process families, read now."""
        return (f for f in self._process.collect() if f.name in self._families)


class ServiceMetrics:
    """Every collector the strategy service exports, bound to one model version."""

    def __init__(
        self,
        version: str,
        latency_buckets: Sequence[float],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.version = version
        reg = self.registry
        reg.register(ProcessMetrics())
        self.requests = _counter(names.REQUESTS, reg)
        self.errors = _counter(names.ERRORS, reg)
        self.latency = _histogram(names.LATENCY, reg, latency_buckets)
        self.gain_sum = _counter(names.PAPER_GAIN_SUM, reg)
        self.loss_sum = _counter(names.PAPER_LOSS_SUM, reg)
        self.return_sq = _counter(names.PAPER_RETURN_SQUARED_SUM, reg)
        self.returns = _counter(names.PAPER_RETURNS, reg)
        self.wins = _counter(names.WINS, reg)
        self.losses = _counter(names.LOSSES, reg)
        self.position = _gauge(names.POSITION, reg)
        self.last_bar_time = _gauge(names.LAST_BAR, reg)
        self.confidence = _histogram(names.CONFIDENCE, reg, CONFIDENCE_BUCKETS)
        self.circuit_open = _gauge(names.CIRCUIT_OPEN, reg)
        self.trips = _counter(names.CIRCUIT_TRIPS, reg)
        self.model_info = _gauge(names.MODEL_INFO, reg)
        self.ready = _gauge(names.READY, reg)
        self.ready.labels(version).set(0)
        # Labelled children by (collector, label values): ``labels()`` validates and locks on
        # every call, about 10 calls per request. Label values are bounded (served instruments,
        # ``unknown``, status codes, reasons), so this never grows past the series exported.
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}

    def _child(self, collector: Counter | Gauge | Histogram, *values: str) -> Any:
        key = (collector, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = collector.labels(*values)
        return child

    def declare_instruments(self, instruments: Sequence[str]) -> None:
        """Create the per-instrument series at zero (live and shadow) so rates see increments."""
        v = self.version
        for inst in instruments:
            for traffic in (LIVE, SHADOW):
                for counter in (
                    self.gain_sum,
                    self.loss_sum,
                    self.return_sq,
                    self.returns,
                    self.wins,
                    self.losses,
                ):
                    counter.labels(v, inst, traffic)
                for reason in ERROR_REASONS:
                    self.errors.labels(v, inst, reason, traffic)
                self.requests.labels(v, inst, "200", traffic)
            for reason in TRIP_REASONS:
                self.trips.labels(v, inst, reason)
            self.circuit_open.labels(v, inst).set(0)

    def realised(self, instrument: str, returns: Sequence[float], traffic: str = LIVE) -> None:
        """Count realised paper returns: their positive and negative parts, squares, wins.

        ``traffic`` is ``shadow`` for bars that came as mirrored copies (Host ``*-shadow``).
        """
        v = self.version
        for r in returns:
            if r > 0:
                self._child(self.gain_sum, v, instrument, traffic).inc(r)
                self._child(self.wins, v, instrument, traffic).inc()
            elif r < 0:
                self._child(self.loss_sum, v, instrument, traffic).inc(-r)
                self._child(self.losses, v, instrument, traffic).inc()
            self._child(self.return_sq, v, instrument, traffic).inc(r * r)
            self._child(self.returns, v, instrument, traffic).inc()

    def last_bar(self, instrument: str, timestamp: float, traffic: str = LIVE) -> None:
        """Record the market time of the newest bar held for an instrument."""
        self._child(self.last_bar_time, self.version, instrument, traffic).set(timestamp)

    def answered(self, instrument: str, code: int, seconds: float, traffic: str = LIVE) -> None:
        """Count one answered request and its latency."""
        self._child(self.requests, self.version, instrument, str(code), traffic).inc()
        self._child(self.latency, self.version, traffic).observe(seconds)

    def error(self, instrument: str, reason: str, traffic: str = LIVE) -> None:
        """Count one failed request by reason."""
        self._child(self.errors, self.version, instrument, reason, traffic).inc()

    def signal(
        self, instrument: str, position: float, confidence: float | None, traffic: str = LIVE
    ) -> None:
        """Record the position now held and the prediction's confidence."""
        self._child(self.position, self.version, instrument, traffic).set(position)
        if confidence is not None:
            self._child(self.confidence, self.version).observe(confidence)

    def breaker(self, instrument: str, is_open: bool, trip_reason: str | None) -> None:
        """Record an instrument's breaker state and, when it just opened, the trip's reason."""
        self.circuit_open.labels(self.version, instrument).set(1 if is_open else 0)
        if trip_reason is not None:
            self.trips.labels(self.version, instrument, trip_reason).inc()

    def loaded(self, sha256: str, ready: bool) -> None:
        """Record the loaded model and readiness."""
        if ready:
            self.model_info.labels(self.version, sha256).set(1)
        self.ready.labels(self.version).set(1 if ready else 0)
