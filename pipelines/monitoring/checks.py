"""One row of the hourly report per check: its figure, limits, verdict and detail (pure).

Every check of ``pipelines monitor health`` (PSI, KS, missing rate, outliers, value range,
correlation, importance, prediction power, confidence) ends in a :class:`CheckResult`. The
status follows the check's limits from params.yaml; a figure that is not a number fails closed
as critical, except where a check says it has too little data to judge (``verdict`` then says
so, and the status is ``ok``: absence of evidence is reported, not alerted on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pipelines.monitoring.drift import STATUS_LEVEL, Status
from pipelines.monitoring.params import Limits

CHECKS = (
    "psi",
    "ks",
    "missing_rate",
    "outliers",
    "value_range",
    "correlation",
    "importance",
    "prediction_power",
    "confidence",
)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        check: Its name (one of :data:`CHECKS`).
        status: ``ok``, ``warning`` or ``critical``.
        value: The one figure the limits apply to (None: no verdict, see ``verdict``).
        warning: Warning limit (None when the check only informs).
        critical: Critical limit.
        higher_is_worse: Whether a larger figure is worse.
        verdict: One line a person reads.
        detail: Per-feature or per-instrument figures, movers, sample sizes.
    """

    check: str
    status: Status
    value: float | None
    warning: float | None
    critical: float | None
    higher_is_worse: bool
    verdict: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (non-finite numbers become None)."""
        return {
            "check": self.check,
            "status": self.status,
            "value": _json_number(self.value),
            "warning": self.warning,
            "critical": self.critical,
            "higher_is_worse": self.higher_is_worse,
            "verdict": self.verdict,
            "detail": _clean(self.detail),
        }


def _json_number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return _json_number(value)
    return value


def judge(value: float, limits: Limits) -> Status:
    """Status of a figure against its limits; NaN fails closed as critical."""
    if not math.isfinite(value):
        return "critical"
    sign = 1.0 if limits.higher_is_worse else -1.0
    if sign * value > sign * limits.critical:
        return "critical"
    if sign * value > sign * limits.warning:
        return "warning"
    return "ok"


def judged(
    check: str, value: float, limits: Limits, verdict: str, detail: dict[str, Any]
) -> CheckResult:
    """A result whose status follows ``limits``."""
    status = judge(value, limits)
    if not math.isfinite(value):
        verdict = f"{verdict} (not a number: fails closed)"
    return CheckResult(
        check,
        status,
        value,
        limits.warning,
        limits.critical,
        limits.higher_is_worse,
        verdict,
        detail,
    )


def no_verdict(check: str, limits: Limits, verdict: str, detail: dict[str, Any]) -> CheckResult:
    """A result with too little data to judge: status ok, no figure, the reason in ``verdict``."""
    return CheckResult(
        check, "ok", None, limits.warning, limits.critical, limits.higher_is_worse, verdict, detail
    )


def worst(results: list[CheckResult]) -> Status:
    """The worst status of all checks (``ok`` when there are none)."""
    out: Status = "ok"
    for result in results:
        if STATUS_LEVEL[result.status] > STATUS_LEVEL[out]:
            out = result.status
    return out
