"""One reconcile of an AnalysisRun: schedule measurements, take them, assess the run.

A port of argo-rollouts ``analysis/analysis.go`` (``reconcileAnalysisRun``,
``generateMetricTasks``, ``runMeasurements``, ``assessRunStatus``,
``calculateNextReconcileTime``) over plain dicts: args are resolved into the metrics on every
reconcile (``{{args.x}}``, quoted as JSON, unresolved is an Error run), a metric is measured
after ``initialDelay``, then every ``interval`` (10 s after an Error) until its effective count;
a terminating run takes no new measurement, terminates in-flight ones, and completes the
metrics that never measured as Successful. At most 10 measurements per metric are kept.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from twin.cluster import analysis_rules as rules
from twin.cluster.analysis_rules import COMPLETED, Obj, to_time

ERROR_RETRY_SECONDS = 10.0
MEASUREMENT_HISTORY_LIMIT = 10
ARG_TAG = re.compile(r"\{\{(.*?)\}\}")


class MetricProvider(Protocol):
    """A metric provider (``metricproviders/provider.go``): returns measurement dicts."""

    def run(self, run: Obj, metric: Obj) -> Obj:
        """Start (and usually finish) a measurement."""
        ...

    def resume(self, run: Obj, metric: Obj, measurement: Obj) -> Obj:
        """Check an in-flight measurement again."""
        ...

    def terminate(self, run: Obj, metric: Obj, measurement: Obj) -> Obj:
        """Stop an in-flight measurement."""
        ...


ProviderFactory = Callable[[str, Obj], MetricProvider]


def resolve_args(value: Any, args: dict[str, str | None]) -> Any:
    """Substitute ``{{args.name}}`` in every string of a metric (``ResolveQuotedArgs``).

    Raises:
        ValueError: An arg has no value, or a tag names an unknown arg.
    """
    if isinstance(value, dict):
        return {k: resolve_args(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_args(v, args) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value

    def sub(match: re.Match[str]) -> str:
        tag = match.group(1).strip()
        name = tag.removeprefix("args.")
        if not tag.startswith("args.") or name not in args:
            raise ValueError(f"failed to resolve {{{{{match.group(1)}}}}}")
        given = args[name]
        if given is None:
            raise ValueError(f'argument "{name}" was not supplied')
        return json.dumps(given)[1:-1]

    return ARG_TAG.sub(sub, value)


def resolved_metrics(run: Obj) -> list[Obj]:
    """The run's metrics with its args substituted.

    Raises:
        ValueError: As :func:`resolve_args`.
    """
    spec = run.get("spec") or {}
    args = {a["name"]: a.get("value") for a in spec.get("args") or []}
    return [resolve_args(m, args) for m in spec.get("metrics") or []]


def _due(run: Obj, metric: Obj, now: float, terminating: bool) -> tuple[bool, Obj | None]:
    """Whether to measure ``metric`` now, and the in-flight measurement to resume if any."""
    status = run.get("status") or {}
    result = rules.get_result(status, metric["name"])
    if result is not None and result.get("phase") in COMPLETED:
        return False, None
    last = (result or {}).get("measurements", [None])[-1] if result else None
    if last is not None and not last.get("finishedAt"):
        resume_at = last.get("resumeAt")
        if not terminating and resume_at and rules.from_time(resume_at) > now:
            return False, None
        return True, last
    if terminating:
        return False, None
    if last is None:
        delay = metric.get("initialDelay")
        if delay:
            started = status.get("startedAt")
            if started is None:
                return False, None
            if rules.from_time(started) + rules.duration_seconds(str(delay)) > now:
                return False, None
        return True, None
    count = rules.effective_count(metric)
    if count is not None and (result or {}).get("count", 0) >= count:
        return False, None
    interval = ERROR_RETRY_SECONDS
    if last.get("phase") != "Error" and metric.get("interval"):
        interval = rules.duration_seconds(str(metric["interval"]))
    return now > rules.from_time(last["finishedAt"]) + interval, None


def _measure(
    provider: ProviderFactory,
    run: Obj,
    task: tuple[Obj, Obj | None],
    terminating: bool,
    now: float,
) -> Obj:
    metric, pending = task
    kind = next(iter((metric.get("provider") or {}).keys()), "")
    try:
        source = provider(kind, metric)
    except ValueError as exc:
        measurement = dict(pending) if pending else {"startedAt": to_time(now)}
        return measurement | {"phase": "Error", "message": str(exc), "finishedAt": to_time(now)}
    if pending is None:
        return source.run(run, metric)
    if terminating:
        done = source.terminate(run, metric, pending)
        if done.get("phase") in ("Successful", "Inconclusive"):
            done["message"] = "Metric Terminated"
        return done
    return source.resume(run, metric, pending)


def reconcile(run: Obj, provider: ProviderFactory, now: float) -> tuple[Obj, float | None]:
    """One reconcile of a run: its new status and when to reconcile next (None: done)."""
    status: Obj = copy.deepcopy(run.get("status") or {})
    if status.get("phase") in COMPLETED:
        return status, None
    work = {**run, "status": status}
    status.setdefault("metricResults", [])
    try:
        metrics = resolved_metrics(run)
    except ValueError as exc:
        return _finish(status, "Error", f"Unable to resolve metric arguments: {exc}", now), None
    problem = _validate(metrics)
    if problem:
        return _finish(status, "Error", f"Analysis spec invalid: {problem}", now), None
    dry = _dry_run(run, metrics)
    terminating = rules.is_terminating(work)
    tasks = []
    for metric in metrics:
        due, pending = _due(work, metric, now, terminating)
        if due:
            tasks.append((metric, pending))
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(tasks)))) as pool:
        done = list(pool.map(lambda t: _measure(provider, work, t, terminating, now), tasks))
    for (metric, pending), measurement in zip(tasks, done, strict=True):
        if measurement.get("phase") in COMPLETED and not measurement.get("finishedAt"):
            measurement["finishedAt"] = to_time(now)
        result = rules.get_result(status, metric["name"]) or {
            "name": metric["name"],
            "phase": "Running",
            "dryRun": dry.get(metric["name"], False),
        }
        rules.record(result, measurement)
        history = list(result.get("measurements") or [])
        if pending is None:
            history.append(measurement)
        else:
            history[-1] = measurement
        result["measurements"] = history[-MEASUREMENT_HISTORY_LIMIT:]
        rules.set_result(status, result)
    phase, message = assess_run(work, metrics, dry, now)
    if phase != status.get("phase"):
        status["phase"] = phase
        status["message"] = message
        if phase in COMPLETED:
            status.setdefault("completedAt", to_time(now))
    return status, next_reconcile(work, metrics, now)


def _finish(status: Obj, phase: str, message: str, now: float) -> Obj:
    status.update(phase=phase, message=message, completedAt=to_time(now))
    return status


def _validate(metrics: list[Obj]) -> str | None:
    if not metrics:
        return "no metrics specified"
    seen: set[str] = set()
    for i, metric in enumerate(metrics):
        if metric.get("name") in seen:
            return f"metrics[{i}]: duplicate name '{metric.get('name')}'"
        seen.add(str(metric.get("name")))
        problem = rules.validate_metric(metric)
        if problem:
            return f"metrics[{i}]: {problem}"
    return None


def _dry_run(run: Obj, metrics: list[Obj]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for rule in (run.get("spec") or {}).get("dryRun") or []:
        pattern = re.compile(str(rule.get("metricName", "")))
        for metric in metrics:
            if pattern.search(str(metric["name"])):
                out[metric["name"]] = True
    return out


def assess_run(run: Obj, metrics: list[Obj], dry: dict[str, bool], now: float) -> tuple[str, str]:
    """The run's phase and message from its metric results (``assessRunStatus``)."""
    status = run["status"]
    terminating = rules.is_terminating(run)
    status.setdefault("startedAt", to_time(now))
    worst, message = "", "Run Terminated" if (run.get("spec") or {}).get("terminate") else ""
    summary = dict.fromkeys(("count", "successful", "failed", "inconclusive", "error"), 0)
    everything = True
    for metric in metrics:
        summary["count"] += 0 if dry.get(metric["name"]) else 1
        result = rules.get_result(status, metric["name"])
        if result is None:
            everything = False
            continue
        phase = rules.assess_metric(metric, result, terminating)
        if phase != result.get("phase"):
            last = (result.get("measurements") or [{}])[-1]
            if last.get("message"):
                result["message"] = last["message"]
            result["phase"] = phase
            rules.set_result(status, result)
        if phase not in COMPLETED:
            everything = False
            continue
        limit_phase, why = rules.failure_inconclusive_or_error(metric, result)
        if dry.get(metric["name"]):
            worst = worst or "Successful"
            continue
        if not worst or rules.is_worse(worst, phase):
            worst = phase
            if why:
                message = f'Metric "{metric["name"]}" assessed {phase} due to {why}'
                if result.get("message"):
                    message += f': "Error Message: {result["message"]}"'
        key = (limit_phase or "Successful").lower()
        summary[key if key in summary else "successful"] += 1
    status["runSummary"] = summary
    message = message.strip()
    if terminating:
        return (worst or "Successful"), message
    if not everything or not worst:
        return "Running", ""
    return worst, message


def next_reconcile(run: Obj, metrics: list[Obj], now: float) -> float | None:
    """The earliest time a metric of the run needs a measurement (None: nothing scheduled)."""
    status = run["status"]
    if status.get("phase") in COMPLETED:
        return None
    times: list[float] = []
    for metric in metrics:
        result = rules.get_result(status, metric["name"])
        if result is not None and result.get("phase") in COMPLETED:
            continue
        last = (result or {}).get("measurements", [None])[-1] if result else None
        if last is None:
            delay = rules.duration_seconds(str(metric.get("initialDelay") or "0"))
            started = rules.from_time(status.get("startedAt") or to_time(now))
            times.append(started + delay)
            continue
        if not last.get("finishedAt"):
            resume = last.get("resumeAt")
            times.append(rules.from_time(resume) if resume else now + 1.0)
            continue
        count = rules.effective_count(metric)
        if count is not None and (result or {}).get("count", 0) >= count:
            continue
        interval = ERROR_RETRY_SECONDS
        if last.get("phase") != "Error" and metric.get("interval"):
            interval = rules.duration_seconds(str(metric["interval"]))
        times.append(rules.from_time(last["finishedAt"]) + interval)
    return min(times) if times else None
