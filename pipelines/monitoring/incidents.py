"""Incidents for MTTD and MTTR: recorded when a failed pipeline or deployment recovers.

When ``pipelines monitor mark`` records a success after a failure of a pipeline that pages
(``data``: ``DataPipelineFailed``), or ``pipelines monitor event --kind deployment`` a success
after a failure (``ModelDeploymentFailed``), the incident is over. Its figures come from
Prometheus (``PROMETHEUS_URL``), which still holds the firing alert at that moment:

* **fired at** = the alert's ``activeAt`` + its rule's ``for`` (``/api/v1/rules``);
* **started at** = the failure the alert fired on: the failure timestamp the job pushed,
  evaluated at ``activeAt`` (so a later repeated failure does not shorten the incident);
* **MTTD** sample = fired - started; **MTTR** sample = recovered (now) - fired.

They are added to counters in the Pushgateway group ``pipeline=incidents`` (carried forward,
like every counter here); the recording rules divide their 30-day differences. An incident
whose alert never fired is counted with ``detected="false"`` (it contributes to neither mean).
Without ``PROMETHEUS_URL`` nothing is recorded (one log line says so).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter

from pipelines.errors import PipelineError
from pipelines.monitoring import metric_names as names
from pipelines.monitoring import prom_read, pushgateway
from pipelines.monitoring.success import carried

log = logging.getLogger(__name__)
GROUP = "incidents"
# Which alert pages for a failed pipeline, and the series whose value is the failure's time.
PIPELINE_ALERTS = {"data": "DataPipelineFailed"}


@dataclass(frozen=True)
class Incident:
    """One resolved incident."""

    alertname: str
    detected: bool
    started_at: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None

    @property
    def detection_seconds(self) -> float | None:
        """Fired minus started (MTTD sample)."""
        if self.fired_at is None or self.started_at is None:
            return None
        return max(0.0, self.fired_at - self.started_at)

    @property
    def resolution_seconds(self) -> float | None:
        """Resolved minus fired (MTTR sample)."""
        if self.fired_at is None or self.resolved_at is None:
            return None
        return max(0.0, self.resolved_at - self.fired_at)


def _rule(url: str, alertname: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{url}/api/v1/rules", params={"type": "alert"}, timeout=30)
        doc = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PipelineError(f"{url}/api/v1/rules: cannot read the alert rules ({exc})") from None
    for group in doc.get("data", {}).get("groups", []):
        for rule in group.get("rules", []):
            if rule.get("name") == alertname:
                return dict(rule)
    return None


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def resolve(
    url: str, alertname: str, matchers: dict[str, str], start_query: str, resolved_at: float
) -> Incident:
    """The incident of ``alertname`` (its alert whose labels include ``matchers``), now over."""
    rule = _rule(url, alertname)
    if rule is None:
        raise PipelineError(f"{url}: no alert rule named {alertname}")
    active = [
        a
        for a in rule.get("alerts", [])
        if all(a.get("labels", {}).get(k) == v for k, v in matchers.items())
        and a.get("state") == "firing"
    ]
    if not active:
        return Incident(alertname, detected=False, resolved_at=resolved_at)
    active_at = min(_stamp(a["activeAt"]) for a in active)
    fired_at = active_at + float(rule.get("duration", 0.0))
    started = prom_read.scalar(url, start_query, active_at)
    return Incident(alertname, True, started if started else active_at, fired_at, resolved_at)


def build(previous: str | None, incident: Incident) -> CollectorRegistry:
    """The incident counters after one more incident (earlier values carried forward)."""
    registry = CollectorRegistry(auto_describe=True)
    counters = {
        spec.name: Counter(spec.name, spec.help, spec.labels, registry=registry)
        for spec in (
            names.INCIDENTS,
            names.INCIDENT_DETECTION_SECONDS,
            names.INCIDENT_RESOLUTION_SECONDS,
        )
    }
    earlier = {
        spec.name: carried(previous, spec)
        for spec in (
            names.INCIDENTS,
            names.INCIDENT_DETECTION_SECONDS,
            names.INCIDENT_RESOLUTION_SECONDS,
        )
    }
    for key, value in earlier[names.INCIDENTS.name].items():
        counters[names.INCIDENTS.name].labels(*key).inc(value)
    for spec in (names.INCIDENT_DETECTION_SECONDS, names.INCIDENT_RESOLUTION_SECONDS):
        for key, value in earlier[spec.name].items():
            counters[spec.name].labels(*key).inc(value)
    detected = "true" if incident.detected else "false"
    counters[names.INCIDENTS.name].labels(incident.alertname, detected).inc()
    if incident.detected:
        for spec, sample in (
            (names.INCIDENT_DETECTION_SECONDS, incident.detection_seconds),
            (names.INCIDENT_RESOLUTION_SECONDS, incident.resolution_seconds),
        ):
            counters[spec.name].labels(incident.alertname).inc(sample or 0.0)
    return registry


def record(
    gateway: str,
    environment: str,
    alertname: str,
    matchers: dict[str, str],
    start_query: str,
    resolved_at: float,
) -> Incident | None:
    """Resolve the incident through ``PROMETHEUS_URL`` and push it; None without Prometheus."""
    url = os.environ.get(prom_read.URL_ENV, "").strip().rstrip("/")
    if not url:
        log.info("incident of %s not recorded: PROMETHEUS_URL is not set", alertname)
        return None
    incident = resolve(url, alertname, matchers, start_query, resolved_at)
    previous = pushgateway.group_text(gateway, GROUP, environment)
    pushgateway.push(gateway, GROUP, environment, build(previous, incident))
    log.info(
        "incident %s: detected %s, MTTD sample %s s, MTTR sample %s s",
        alertname,
        incident.detected,
        incident.detection_seconds,
        incident.resolution_seconds,
    )
    return incident


def recovered(previous: str | None, success_spec: str, failure_spec: str) -> bool:
    """Whether the group's previous text says the last outcome was a failure."""
    from prometheus_client.parser import text_string_to_metric_families

    latest: dict[str, float] = {}
    for family in text_string_to_metric_families(previous or ""):
        for sample in family.samples:
            if sample.name in (success_spec, failure_spec):
                latest[sample.name] = max(latest.get(sample.name, 0.0), float(sample.value))
    failed = latest.get(failure_spec)
    return failed is not None and failed > latest.get(success_spec, 0.0)


def after_pipeline_success(
    gateway: str, environment: str, pipeline: str, previous: str | None, now: float
) -> None:
    """Record the incident a pipeline's success ends, if its last run failed and it pages."""
    alert = PIPELINE_ALERTS.get(pipeline)
    last_ok, last_fail = names.PIPELINE_LAST_SUCCESS.name, names.PIPELINE_LAST_FAILURE.name
    if alert is None or not recovered(previous, last_ok, last_fail):
        return
    query = f'max({last_fail}{{pipeline="{pipeline}"}})'
    _safely(gateway, environment, alert, {"pipeline": pipeline}, query, now)


def after_deployment_success(
    gateway: str, environment: str, previous: str | None, now: float
) -> None:
    """Record the incident a successful deployment ends, if the last attempt had failed."""
    last_ok, last_fail = names.DEPLOYMENT_LAST_SUCCESS.name, names.DEPLOYMENT_LAST_FAILURE.name
    if not recovered(previous, last_ok, last_fail):
        return
    query = f'max({last_fail}{{environment="{environment}"}})'
    _safely(gateway, environment, "ModelDeploymentFailed", {"environment": environment}, query, now)


def _safely(
    gateway: str,
    environment: str,
    alert: str,
    matchers: dict[str, str],
    query: str,
    now: float,
) -> None:
    # The run's own outcome is already pushed; a figure that cannot be computed must not turn
    # a recovered pipeline into a failed step.
    try:
        record(gateway, environment, alert, matchers, query, now)
    except PipelineError as exc:
        log.warning("incident of %s not recorded: %s", alert, exc)
