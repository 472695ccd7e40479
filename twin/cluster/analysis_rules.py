"""Argo Rollouts' measurement and metric rules, as pure functions over AnalysisRun dicts.

Copied semantics (argo-rollouts ``utils/evaluate/evaluate.go``, ``analysis/analysis.go``,
``utils/analysis/helpers.go``, ``pkg/apis/rollouts/v1alpha1/analysis_types.go``):

- ``evaluate_result``: no condition at all is Successful; only a success condition: not
  success is Failed; only a failure condition: not failure is Successful; both: neither true
  is Inconclusive; an expression error is an Error measurement.
- ``effective_count``: ``count`` unset or 0 means 1 when there is no ``interval``, else
  unbounded (None).
- ``assess_metric``: failed > failureLimit (default 0, -1 disables) is Failed; inconclusive >
  inconclusiveLimit (default 0) is Inconclusive; consecutiveError > consecutiveErrorLimit
  (default 4) is Error (later checks win, as in ``assessMetricFailureInconclusiveOrError``);
  otherwise reaching the effective count is Successful; a terminating run completes a metric
  with no measurement as Successful.
- Phases from best to worst: Successful, Running, Pending, Inconclusive, Error, Failed; a run
  is the worst of its completed metrics once all are completed (``assessRunStatus``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from twin.cluster.analysis_expr import ExprError, evaluate

Obj = dict[str, Any]
COMPLETED = ("Successful", "Failed", "Error", "Inconclusive")
ORDER = ("Successful", "Running", "Pending", "Inconclusive", "Error", "Failed")
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def to_time(seconds: float) -> str:
    """RFC 3339 with microseconds (Kubernetes' MicroTime), UTC."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_time(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time written by :func:`to_time` (or seconds)."""
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp.timestamp()


def duration_seconds(text: str) -> float:
    """A Go-style duration (``90s``, ``1m30s``, ``1h``, ``250ms``) in seconds.

    Raises:
        ValueError: Not a duration (Argo: ``invalid interval string``).
    """
    text = str(text).strip()
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for match in DURATION.finditer(text):
        if match.start() != pos:
            break
        value, unit = float(match.group(1)), match.group(2)
        total += value * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f'time: invalid duration "{text}"')
    return total


def int_or_string(value: Any, default: int | None = None) -> int | None:
    """An IntOrString field as Kubernetes' ``IntValue`` reads it (bad strings are 0)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def effective_count(metric: Obj) -> int | None:
    """How many measurements complete the metric (None: runs until the run ends)."""
    count = int_or_string(metric.get("count"), 0) or 0
    if count == 0:
        return None if metric.get("interval") else 1
    return count


def evaluate_result(metric: Obj, result: Any) -> tuple[str, str]:
    """Phase of one measurement from the provider's value: (phase, error message)."""
    success_cond, failure_cond = metric.get("successCondition"), metric.get("failureCondition")
    outcome = {"successCondition": False, "failureCondition": False}
    for which, condition in (
        ("successCondition", success_cond),
        ("failureCondition", failure_cond),
    ):
        if not condition:
            continue
        try:
            outcome[which] = evaluate(str(condition), result)
        except ExprError as exc:
            if result is None or result == []:
                return "Error", (
                    f'could not evaluate {which} "{condition}": metric result is nil or empty: '
                    "no data returned from the metric provider"
                )
            return "Error", f'could not evaluate {which} "{condition}": {exc}'
    success, failure = outcome["successCondition"], outcome["failureCondition"]
    if not success_cond and not failure_cond:
        return "Successful", ""
    if success_cond and not failure_cond:
        failure = not success
    elif failure_cond and not success_cond:
        success = not failure
    if failure:
        return "Failed", ""
    if not success:
        return "Inconclusive", ""
    return "Successful", ""


def is_worse(current: str, new: str) -> bool:
    """Whether ``new`` is a worse completed phase than ``current``."""
    return ORDER.index(new) > ORDER.index(current) if current in ORDER else True


def failure_inconclusive_or_error(metric: Obj, result: Obj) -> tuple[str, str]:
    """The limit a metric's counters broke, if any: (phase, message) or ("", "")."""
    phase, message = "", ""
    failure_limit = int_or_string(metric.get("failureLimit"), 0) or 0
    if failure_limit >= 0 and result.get("failed", 0) > failure_limit:
        phase = "Failed"
        message = f"failed ({result['failed']}) > failureLimit ({failure_limit})"
    inconclusive_limit = int_or_string(metric.get("inconclusiveLimit"), 0) or 0
    if result.get("inconclusive", 0) > inconclusive_limit:
        phase = "Inconclusive"
        message = (
            f"inconclusive ({result['inconclusive']}) > inconclusiveLimit ({inconclusive_limit})"
        )
    error_limit = int_or_string(metric.get("consecutiveErrorLimit"), None)
    error_limit = DEFAULT_CONSECUTIVE_ERROR_LIMIT if error_limit is None else error_limit
    if result.get("consecutiveError", 0) > error_limit:
        phase = "Error"
        message = (
            f"consecutiveErrors ({result['consecutiveError']}) > consecutiveErrorLimit "
            f"({error_limit})"
        )
    return phase, message


def assess_metric(metric: Obj, result: Obj, terminating: bool) -> str:
    """The phase of one metric from its measurements and limits (``assessMetricStatus``)."""
    if result.get("phase") in COMPLETED:
        return str(result["phase"])
    measurements = result.get("measurements") or []
    if not measurements:
        return "Successful" if terminating else "Pending"
    if measurements[-1].get("phase") not in COMPLETED:
        return "Running"
    phase, _ = failure_inconclusive_or_error(metric, result)
    if phase:
        return phase
    success_limit = int_or_string(metric.get("consecutiveSuccessLimit"), 0) or 0
    if success_limit > 0 and result.get("consecutiveSuccess", 0) >= success_limit:
        return "Successful"
    count = effective_count(metric)
    if count is not None and result.get("count", 0) >= count:
        failure_limit = int_or_string(metric.get("failureLimit"), 0) or 0
        if success_limit > 0:
            return "Inconclusive" if failure_limit >= 0 else "Failed"
        return "Successful"
    return "Successful" if terminating else "Running"


def record(result: Obj, measurement: Obj) -> None:
    """Update a metric result's counters for one completed measurement (``runMeasurements``)."""
    phase = measurement.get("phase")
    if phase not in COMPLETED:
        return
    if phase == "Error":
        result["error"] = result.get("error", 0) + 1
        result["consecutiveError"] = result.get("consecutiveError", 0) + 1
        result["consecutiveSuccess"] = 0
        return
    key = {"Successful": "successful", "Failed": "failed", "Inconclusive": "inconclusive"}[phase]
    result[key] = result.get(key, 0) + 1
    result["count"] = result.get("count", 0) + 1
    result["consecutiveError"] = 0
    result["consecutiveSuccess"] = (
        result.get("consecutiveSuccess", 0) + 1 if phase == "Successful" else 0
    )


def validate_metric(metric: Obj) -> str | None:
    """Why a resolved metric is invalid (``ValidateMetric``), or None."""
    count = int_or_string(metric.get("count"), 0) or 0
    failure_limit = int_or_string(metric.get("failureLimit"), 0) or 0
    success_limit = int_or_string(metric.get("consecutiveSuccessLimit"), 0) or 0
    inconclusive_limit = int_or_string(metric.get("inconclusiveLimit"), 0) or 0
    if failure_limit < -1:
        return "failureLimit must be >= 0, or -1 to be disabled"
    if success_limit == 0 and failure_limit == -1:
        return "failureLimit and consecutiveSuccessLimit cannot both be disabled"
    if inconclusive_limit < 0:
        return "inconclusiveLimit must be >= 0"
    if count > 0 and failure_limit >= 0 and count < failure_limit + success_limit:
        return (
            f"count ({count}) must be >= failureLimit + consecutiveSuccessLimit "
            f"({failure_limit} + {success_limit}) if both >= 0"
        )
    if count > 0 and count < inconclusive_limit:
        return "count must be >= inconclusiveLimit"
    if count > 1 and not metric.get("interval"):
        return "interval must be specified when count > 1"
    for key, word in (("interval", "interval"), ("initialDelay", "startDelay")):
        if metric.get(key):
            try:
                duration_seconds(str(metric[key]))
            except ValueError as exc:
                return f"invalid {word} string: {exc}"
    providers = [k for k, v in (metric.get("provider") or {}).items() if v is not None]
    if not providers:
        return "no provider specified"
    if len(providers) > 1:
        return "multiple providers specified"
    return None


def get_result(status: Obj, name: str) -> Obj | None:
    """The metric result of ``name`` in a run's status."""
    for result in status.get("metricResults") or []:
        if result.get("name") == name:
            return dict(result)
    return None


def set_result(status: Obj, result: Obj) -> None:
    """Replace (or append) a metric result in a run's status."""
    results = status.setdefault("metricResults", [])
    for i, existing in enumerate(results):
        if existing.get("name") == result["name"]:
            results[i] = result
            return
    results.append(result)


def is_terminating(run: Obj) -> bool:
    """Terminate requested, or a non-dry-run metric already Failed, Error or Inconclusive."""
    if (run.get("spec") or {}).get("terminate"):
        return True
    return any(
        r.get("phase") in ("Failed", "Error", "Inconclusive") and not r.get("dryRun")
        for r in (run.get("status") or {}).get("metricResults") or []
    )
