"""Delivery counters behind the success criteria: deployments by outcome, rollbacks and their time.

``pipelines monitor event --kind deployment`` adds one to ``model_deployments_total`` (by
environment and outcome) besides the last-success/failure timestamps; ``--kind rollback`` adds
one rollback and its duration (``--duration`` or ``--started-at``: from the trigger, an abort
or the rollback workflow's start, to the previous version serving). Each push carries the
earlier counts forward from the group's previous text, so the recording rules' 30-day
differences are exact (see ``monitoring/prometheus/rules/success.rules.yml``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

from pipelines.monitoring import metric_names as names
from pipelines.monitoring.metric_names import MetricSpec


def carried(previous: str | None, spec: MetricSpec) -> dict[tuple[str, ...], float]:
    """Values of ``spec`` in a text exposition, keyed by its label values."""
    out: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(previous or ""):
        for sample in family.samples:
            if sample.name == spec.name:
                out[tuple(sample.labels.get(k, "") for k in spec.labels)] = float(sample.value)
    return out


def _counter(spec: MetricSpec, registry: CollectorRegistry) -> Counter:
    return Counter(spec.name, spec.help, spec.labels, registry=registry)


def add_deployment_count(
    registry: CollectorRegistry, previous: str | None, environment: str, success: bool
) -> None:
    """``model_deployments_total`` after one more deployment (both outcomes always present)."""
    counter = _counter(names.DEPLOYMENTS, registry)
    earlier = carried(previous, names.DEPLOYMENTS)
    for status in ("success", "failure"):
        done = 1.0 if (status == "success") == success else 0.0
        counter.labels(environment, status).inc(earlier.get((environment, status), 0.0) + done)


def build_rollback(previous: str | None, environment: str, seconds: float) -> CollectorRegistry:
    """The rollback counters and last duration after one more rollback of ``seconds``."""
    registry = CollectorRegistry(auto_describe=True)
    count = _counter(names.ROLLBACKS, registry)
    total = _counter(names.ROLLBACK_SECONDS, registry)
    count.labels(environment).inc(carried(previous, names.ROLLBACKS).get((environment,), 0.0) + 1)
    earlier = carried(previous, names.ROLLBACK_SECONDS).get((environment,), 0.0)
    total.labels(environment).inc(earlier + seconds)
    last = Gauge(*_gauge_args(names.ROLLBACK_LAST_SECONDS), registry=registry)
    last.labels(environment).set(seconds)
    return registry


def _gauge_args(spec: MetricSpec) -> tuple[str, str, tuple[str, ...]]:
    return spec.name, spec.help, spec.labels
