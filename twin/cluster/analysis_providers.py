"""Metric providers of the twin's AnalysisRuns: Prometheus (HTTP query) and Job (a pod).

Prometheus (argo-rollouts ``metricproviders/prometheus/prometheus.go``): an instant query at
``<address>/api/v1/query``; a vector's values become ``result`` as a list of floats (``[]`` when
empty), a scalar a float, a matrix every sample in order; any other type, an HTTP or API error
is an Error measurement; ``timeout`` (seconds, default 30) bounds the query. The address's
host is resolved through the cluster's names (``prometheus-operated.monitoring.svc:9090`` is
the twin's Prometheus).

Job (``metricproviders/job/job.go``): runs the Job's pod template through the PodRunner and
records a ``Job`` object; success is the pod's exit 0 (Successful), a failure after
``backoffLimit`` retries or past ``activeDeadlineSeconds`` is Failed, an image that cannot be
pulled is Inconclusive, terminating deletes the pod (Inconclusive). Resumed after
``sqrt(2 * elapsed)`` seconds, as Argo does.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from twin.cluster.analysis_rules import Obj, evaluate_result, from_time, to_time
from twin.cluster.interfaces import ObjectStore, Pod, PodRunner

Resolver = Callable[[str, int], tuple[str, int]]
Clock = Callable[[], float]
TERMINAL_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")


def format_value(value: Any) -> str:
    """A result as Argo writes ``measurement.value`` (``[0.5,1]`` for a vector)."""
    if isinstance(value, list):
        return "[" + ",".join(_go_float(v) for v in value) + "]"
    return _go_float(value)


def _go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``, as Prometheus' SampleValue prints."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    if "e" in text:
        text = format(Decimal(text), "f")
    return text.removesuffix(".0")


class PrometheusProvider:
    """Instant PromQL queries (see module doc)."""

    def __init__(self, resolve: Resolver, clock: Clock = time.time) -> None:
        self.resolve = resolve
        self.clock = clock
        # One client for every query: a client per query built a TLS context each time, a
        # measurable share of the cluster server's CPU during analysis.
        self.http = httpx.Client()

    def url_of(self, address: str) -> str:
        """The address with its host:port resolved to where the twin's server listens."""
        match = re.fullmatch(r"(https?)://([^/:]+)(?::(\d+))?(/.*)?", address.strip())
        if match is None:
            raise ValueError("prometheus address is not is url format")
        scheme, host, port, path = match.groups()
        real_host, real_port = self.resolve(host, int(port or (443 if scheme == "https" else 80)))
        return f"{scheme}://{real_host}:{real_port}{(path or '').rstrip('/')}"

    def query(self, metric: Obj) -> Any:
        """The query's value as Argo passes it to the conditions.

        Raises:
            ValueError: Unreachable Prometheus, an API error or an unsupported result type.
        """
        spec = (metric.get("provider") or {}).get("prometheus") or {}
        address = spec.get("address") or ""
        if not address:
            raise ValueError("prometheus address is not configured")
        timeout = float(spec.get("timeout") or 30)
        try:
            reply = self.http.get(
                f"{self.url_of(str(address))}/api/v1/query",
                params={"query": str(spec.get("query", "")), "time": f"{self.clock():.3f}"},
                timeout=timeout,
            )
            payload = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ValueError(f'Post "{address}/api/v1/query": {exc}') from None
        if payload.get("status") != "success":
            raise ValueError(f"{payload.get('errorType', 'error')}: {payload.get('error', '')}")
        data = payload["data"]
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar":
            return float(result[1])
        if kind == "vector":
            return [float(sample["value"][1]) for sample in result]
        if kind == "matrix":
            return [float(v[1]) for series in result for v in series.get("values", [])]
        raise ValueError("Prometheus metric type not supported")

    def run(self, run: Obj, metric: Obj) -> Obj:
        """Query now and evaluate the conditions."""
        started = to_time(self.clock())
        try:
            value = self.query(metric)
        except ValueError as exc:
            return {
                "phase": "Error",
                "message": str(exc),
                "startedAt": started,
                "finishedAt": to_time(self.clock()),
            }
        phase, message = evaluate_result(metric, value)
        measurement = {
            "phase": phase,
            "value": format_value(value),
            "startedAt": started,
            "finishedAt": to_time(self.clock()),
        }
        if message:
            measurement["message"] = message
        return measurement

    def resume(self, run: Obj, metric: Obj, measurement: Obj) -> Obj:
        """Never in flight (Argo logs a warning and returns it unchanged)."""
        return measurement

    def terminate(self, run: Obj, metric: Obj, measurement: Obj) -> Obj:
        """Never in flight."""
        return measurement


def job_name(run: Obj, metric: Obj) -> str:
    """``<run>-<metric>-<n>`` (Argo: ``<run uid>.<metric>.<n>``; pods need DNS labels here)."""
    status = run.get("status") or {}
    result: Obj = next(
        (r for r in status.get("metricResults") or [] if r.get("name") == metric["name"]), {}
    )
    n = int(result.get("count", 0)) + int(result.get("error", 0)) + 1
    base = re.sub(r"[^a-z0-9-]", "-", f"{run['metadata']['name']}-{metric['name']}".lower())
    return f"{base[: 63 - len(str(n)) - 1]}-{n}"


class JobProvider:
    """Runs a Job metric's pod template as one pod (see module doc)."""

    def __init__(self, store: ObjectStore, pods: PodRunner, clock: Clock = time.time) -> None:
        self.store = store
        self.pods = pods
        self.clock = clock

    def _start(self, namespace: str, name: str, attempt: int, job: Obj) -> Pod:
        template = (job.get("spec") or {}).get("template") or {}
        labels = {**((template.get("metadata") or {}).get("labels") or {}), "job-name": name}
        spec = copy.deepcopy(template.get("spec") or {})
        return self.pods.start(namespace, f"{name}-{attempt}", spec, labels)

    def run(self, run: Obj, metric: Obj) -> Obj:
        """Create the Job and its pod; the measurement stays Running."""
        namespace = run["metadata"].get("namespace", "")
        job = copy.deepcopy((metric.get("provider") or {}).get("job") or {})
        name = job_name(run, metric)
        now = self.clock()
        self.store.apply(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": (job.get("metadata") or {}).get("labels") or {},
                    "annotations": {
                        "analysisrun.argoproj.io/name": run["metadata"]["name"],
                        "analysisrun.argoproj.io/metric-name": metric["name"],
                    },
                },
                "spec": job.get("spec") or {},
            }
        )
        self._start(namespace, name, 0, job)
        return {
            "phase": "Running",
            "startedAt": to_time(now),
            "resumeAt": to_time(now),
            "metadata": {"job-name": name, "job-namespace": namespace, "attempt": "0"},
        }

    def _pod(self, namespace: str, name: str) -> Pod | None:
        return next((p for p in self.pods.list(namespace) if p.name == name), None)

    def resume(self, run: Obj, metric: Obj, measurement: Obj) -> Obj:
        """Check the pod: exit 0 Successful, failure (after retries) Failed, else later."""
        meta = dict(measurement.get("metadata") or {})
        namespace, name = meta.get("job-namespace", ""), meta.get("job-name", "")
        attempt = int(meta.get("attempt", "0"))
        spec = ((metric.get("provider") or {}).get("job") or {}).get("spec") or {}
        pod = self._pod(namespace, f"{name}-{attempt}")
        now = self.clock()
        elapsed = now - from_time(str(measurement["startedAt"]))
        deadline = spec.get("activeDeadlineSeconds")
        out = {**measurement, "metadata": meta}
        if pod is None:
            return self._done(out, "Error", f"job {name}: pod is gone", now, None)
        if pod.phase == "Succeeded":
            return self._done(out, "Successful", "", now, pod)
        if pod.phase == "Failed":
            if attempt < int(spec.get("backoffLimit", 6)):
                self.pods.delete(pod)
                meta["attempt"] = str(attempt + 1)
                job = (metric.get("provider") or {}).get("job") or {}
                self._start(namespace, name, attempt + 1, job)
                return out | {"resumeAt": to_time(now)}
            return self._done(out, "Failed", f"job {name}: {pod.message or 'failed'}", now, pod)
        if deadline is not None and elapsed > float(deadline):
            message = f"job {name}: was active longer than specified deadline"
            return self._done(out, "Failed", message, now, pod)
        if pod.phase == "Pending" and any(r in pod.message for r in TERMINAL_WAITING):
            return self._done(out, "Inconclusive", pod.message, now, pod)
        return out | {"resumeAt": to_time(now + math.sqrt(2 * max(elapsed, 0.0)))}

    def _done(self, out: Obj, phase: str, message: str, now: float, pod: Pod | None) -> Obj:
        meta = out["metadata"]
        if pod is not None:
            self.pods.delete(pod, grace_seconds=1.0)
        condition = "Complete" if phase == "Successful" else "Failed"
        self.store.update_status(
            "Job",
            meta.get("job-namespace", ""),
            meta.get("job-name", ""),
            {"conditions": [{"type": condition, "status": "True", "message": message}]},
        )
        out = out | {"phase": phase, "finishedAt": to_time(now)}
        out.pop("resumeAt", None)
        if message:
            out["message"] = message
        return out

    def terminate(self, run: Obj, metric: Obj, measurement: Obj) -> Obj:
        """Delete the pod; the measurement is Inconclusive."""
        meta = dict(measurement.get("metadata") or {})
        pod = self._pod(meta.get("job-namespace", ""), f"{meta.get('job-name')}-{meta['attempt']}")
        return self._done({**measurement, "metadata": meta}, "Inconclusive", "", self.clock(), pod)


def provider_factory(
    resolve: Resolver, store: ObjectStore, pods: PodRunner, clock: Clock = time.time
) -> Callable[[str, Obj], Any]:
    """The ``ProviderFactory`` of the twin: prometheus and job; anything else is an error."""
    prometheus = PrometheusProvider(resolve, clock)
    job = JobProvider(store, pods, clock)

    def make(kind: str, metric: Obj) -> Any:
        if kind == "prometheus":
            return prometheus
        if kind == "job":
            return job
        raise ValueError(f"provider {kind or '(none)'!r} is not available in the twin")

    return make
