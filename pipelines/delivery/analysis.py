"""Canary analysis verdict (pure), the same rules as ``environments/base/analysis``.

Service level of the canary (all its traffic) against absolute limits: error rate, p99 latency,
circuit-breaker trips per hour. Trading KPIs compared pairwise, canary (shadow) against stable
(live) on the same instruments and bars: Sharpe drop (relative), win-rate drop (fraction
points) and PnL drop (the PnL the canary made less, as a share of the stable's gross paper
PnL). Pairing rule: per instrument, paired paper returns = min(canary returns, stable returns);
fewer than ``min_trades`` of them makes every KPI check inconclusive, never a pass. Missing or
NaN service-level inputs fail (fail closed); an undefined KPI is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.errors import ConfigError

Outcome = Literal["pass", "fail", "inconclusive"]
EXIT_CODES: dict[Outcome, int] = {"pass": 0, "fail": 1, "inconclusive": 3}
THRESHOLD_KEYS = (
    "error_rate_max",
    "latency_p99_max_seconds",
    "circuit_breaker_trips_per_hour_max",
    "sharpe_drop_max",
    "win_rate_drop_max",
    "pnl_drop_max",
    "min_trades",
)


@dataclass(frozen=True)
class Thresholds:
    """Limits from ``settings.yaml`` ``analysis:`` (the specification's rollback triggers)."""

    error_rate_max: float
    latency_p99_max_seconds: float
    circuit_breaker_trips_per_hour_max: float
    sharpe_drop_max: float
    win_rate_drop_max: float
    pnl_drop_max: float
    min_trades: int
    window: str = "30m"


def thresholds_from_settings(settings: dict[str, Any], source: str = "settings.yaml") -> Thresholds:
    """Read ``analysis:`` of an environment's settings (window: ``schedule.step`` or 30m).

    Raises:
        ConfigError: A key is missing or not a number.
    """
    section = settings.get("analysis")
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: analysis: expected a mapping of thresholds")
    values: dict[str, Any] = {}
    for key in THRESHOLD_KEYS:
        value = section.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: analysis.{key}: expected a number, got {value!r}")
        values[key] = value
    values["min_trades"] = int(values["min_trades"])
    schedule = settings.get("schedule") or {}
    return Thresholds(**values, window=str(schedule.get("step", "30m")))


@dataclass(frozen=True)
class ServiceStats:
    """The canary's service level in the window (None: the metric was missing)."""

    requests: float | None
    errors: float | None
    latency_p99: float | None
    trips_per_hour: float | None

    def error_rate(self) -> float:
        """Errors per request; NaN when unknown or without requests."""
        if self.requests is None or self.errors is None or self.requests <= 0:
            return math.nan
        return self.errors / self.requests


@dataclass(frozen=True)
class TradeStats:
    """One side's realised paper returns in the window on the paired instruments."""

    returns_by_instrument: Mapping[str, float] = field(default_factory=dict)
    gain: float = 0.0
    loss: float = 0.0
    squared: float = 0.0
    wins: float = 0.0
    losses: float = 0.0

    @property
    def returns(self) -> float:
        """Number of realised paper returns."""
        return float(sum(self.returns_by_instrument.values()))

    def pnl(self) -> float:
        """Signed paper PnL (sum of returns)."""
        return self.gain - self.loss

    def sharpe(self) -> float:
        """Per-bar Sharpe of the realised returns (mean / std); NaN when undefined."""
        n = self.returns
        if n < 2:
            return math.nan
        mean = self.pnl() / n
        var = self.squared / n - mean * mean
        return mean / math.sqrt(var) if var > 0 else math.nan

    def win_rate(self) -> float:
        """Wins / (wins + losses); NaN when undefined."""
        total = self.wins + self.losses
        return self.wins / total if total > 0 else math.nan


def paired_returns(canary: TradeStats, stable: TradeStats) -> float:
    """Sum over instruments of min(canary returns, stable returns) (the pairing rule)."""
    shared = set(canary.returns_by_instrument) & set(stable.returns_by_instrument)
    return float(
        sum(min(canary.returns_by_instrument[i], stable.returns_by_instrument[i]) for i in shared)
    )


@dataclass(frozen=True)
class Check:
    """One metric's outcome."""

    name: str
    value: float
    limit: float
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class AnalysisResult:
    """All checks and the overall outcome (fail > inconclusive > pass)."""

    checks: list[Check] = field(default_factory=list)
    paired: float | None = None

    @property
    def outcome(self) -> Outcome:
        """Overall: any fail fails; else any inconclusive is inconclusive; else pass."""
        outcomes = {c.outcome for c in self.checks}
        if "fail" in outcomes or not self.checks:
            return "fail"
        return "inconclusive" if "inconclusive" in outcomes else "pass"

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail, 3 inconclusive."""
        return EXIT_CODES[self.outcome]


def _upper(name: str, value: float, limit: float) -> Check:
    ok = math.isfinite(value) and value <= limit
    detail = "" if math.isfinite(value) else "missing or undefined (fail closed)"
    return Check(name, value, limit, "pass" if ok else "fail", detail)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _divide(a: float, b: float) -> float:
    """IEEE division as PromQL does it: x/0 is +-Inf, 0/0 and NaN operands are NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def service_checks(service: ServiceStats, limits: Thresholds) -> list[Check]:
    """Error rate, p99 latency and breaker trips of the canary."""
    return [
        _upper("error_rate", service.error_rate(), limits.error_rate_max),
        _upper("latency_p99_seconds", _nan(service.latency_p99), limits.latency_p99_max_seconds),
        _upper(
            "circuit_breaker_trips_per_hour",
            _nan(service.trips_per_hour),
            limits.circuit_breaker_trips_per_hour_max,
        ),
    ]


def kpi_checks(canary: TradeStats, stable: TradeStats, limits: Thresholds) -> list[Check]:
    """Sharpe, win-rate and PnL drops of the canary against the stable, on paired bars."""
    paired = paired_returns(canary, stable)
    s_sharpe, c_sharpe = stable.sharpe(), canary.sharpe()
    gross = stable.gain + stable.loss
    values = (
        ("sharpe_drop", _divide(s_sharpe - c_sharpe, abs(s_sharpe))),
        ("win_rate_drop", stable.win_rate() - canary.win_rate()),
        ("pnl_drop", _divide(stable.pnl() - canary.pnl(), gross)),
    )
    limit_of = {
        "sharpe_drop": limits.sharpe_drop_max,
        "win_rate_drop": limits.win_rate_drop_max,
        "pnl_drop": limits.pnl_drop_max,
    }
    checks = []
    for name, value in values:
        limit = limit_of[name]
        if paired < limits.min_trades:
            detail = f"{paired:.0f} paired paper returns < min_trades {limits.min_trades}"
            checks.append(Check(name, value, limit, "inconclusive", detail))
        elif math.isnan(value):
            checks.append(Check(name, value, limit, "inconclusive", "undefined"))
        else:
            checks.append(Check(name, value, limit, "pass" if value <= limit else "fail"))
    return checks


def analyse(
    service: ServiceStats,
    canary: TradeStats | None,
    stable: TradeStats | None,
    limits: Thresholds,
) -> AnalysisResult:
    """The verdict of one analysis.

    Args:
        service: The canary's service level (all its traffic).
        canary: The canary's shadow paper returns on the paired instruments (None: nothing
            left to pair, e.g. the 100% step: service level only).
        stable: The stable's live paper returns on the same instruments.
        limits: Thresholds from the environment's settings.
    """
    checks = service_checks(service, limits)
    paired = None
    if canary is not None and stable is not None:
        checks += kpi_checks(canary, stable, limits)
        paired = paired_returns(canary, stable)
    return AnalysisResult(checks, paired)


def render_checks(result: AnalysisResult) -> list[str]:
    """Markdown table rows of the checks."""
    rows = ["| check | value | limit | outcome | note |", "|---|---|---|---|---|"]
    for c in result.checks:
        rows.append(f"| {c.name} | {c.value:.6g} | {c.limit:g} | {c.outcome} | {c.detail} |")
    return rows
