"""Canary analysis verdict (pure): canary vs stable on the same instruments and window.

The same rules as the AnalysisTemplate in ``environments/base/analysis``: error rate, p99
latency and circuit-breaker trips per hour of the canary against absolute limits; Sharpe and win
rate of the canary against the stable version's. Too few canary trades makes the Sharpe and
win-rate checks inconclusive, never a pass. Missing or NaN inputs fail (fail closed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.errors import ConfigError

Outcome = Literal["pass", "fail", "inconclusive"]
EXIT_CODES: dict[Outcome, int] = {"pass": 0, "fail": 1, "inconclusive": 3}
THRESHOLD_KEYS = (
    "error_rate_max",
    "latency_p99_max_seconds",
    "sharpe_drop_max",
    "win_rate_drop_max",
    "circuit_breaker_trips_per_hour_max",
    "min_trades",
)


@dataclass(frozen=True)
class Thresholds:
    """Limits from ``settings.yaml`` ``analysis:`` (the specification's rollback triggers)."""

    error_rate_max: float
    latency_p99_max_seconds: float
    sharpe_drop_max: float
    win_rate_drop_max: float
    circuit_breaker_trips_per_hour_max: float
    min_trades: int
    window: str = "10m"


def thresholds_from_settings(settings: dict[str, Any], source: str = "settings.yaml") -> Thresholds:
    """Read ``analysis:`` of an environment's settings.

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
    return Thresholds(**values, window=str(section.get("window", "10m")))


@dataclass(frozen=True)
class SideStats:
    """What one version did in the window (None: the metric was missing)."""

    requests: float | None
    errors: float | None
    latency_p99: float | None
    trips_per_hour: float | None
    returns: float | None
    return_sum: float | None
    return_squared_sum: float | None
    wins: float | None
    losses: float | None

    def error_rate(self) -> float:
        """Errors per request; NaN when unknown or without requests."""
        if self.requests is None or self.errors is None or self.requests <= 0:
            return math.nan
        return self.errors / self.requests

    def sharpe(self) -> float:
        """Per-bar Sharpe of realised paper returns (mean / std); NaN when undefined."""
        n, s, sq = self.returns, self.return_sum, self.return_squared_sum
        if n is None or s is None or sq is None or n < 2:
            return math.nan
        mean = s / n
        var = sq / n - mean * mean
        return mean / math.sqrt(var) if var > 0 else math.nan

    def win_rate(self) -> float:
        """Wins / (wins + losses); NaN when undefined."""
        if self.wins is None or self.losses is None or self.wins + self.losses <= 0:
            return math.nan
        return self.wins / (self.wins + self.losses)


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


def analyse(canary: SideStats, stable: SideStats, limits: Thresholds) -> AnalysisResult:
    """Compare the canary with the stable version.

    Args:
        canary: The canary's window on the instruments routed to it.
        stable: The stable version's window on the same instruments.
        limits: Thresholds from the environment's settings.

    Returns:
        Every check with its value, limit and outcome.
    """
    checks = [
        _upper("error_rate", canary.error_rate(), limits.error_rate_max),
        _upper("latency_p99_seconds", _nan(canary.latency_p99), limits.latency_p99_max_seconds),
        _upper(
            "circuit_breaker_trips_per_hour",
            _nan(canary.trips_per_hour),
            limits.circuit_breaker_trips_per_hour_max,
        ),
    ]
    trades = canary.returns or 0.0
    s_sharpe, c_sharpe = stable.sharpe(), canary.sharpe()
    drop = (s_sharpe - c_sharpe) / abs(s_sharpe) if s_sharpe != 0 else math.nan
    wr_drop = stable.win_rate() - canary.win_rate()
    for name, value, limit in (
        ("sharpe_drop", drop, limits.sharpe_drop_max),
        ("win_rate_drop", wr_drop, limits.win_rate_drop_max),
    ):
        if trades < limits.min_trades:
            detail = f"{trades:.0f} canary trades < min_trades {limits.min_trades}"
            checks.append(Check(name, value, limit, "inconclusive", detail))
        elif not math.isfinite(value):
            checks.append(Check(name, value, limit, "inconclusive", "undefined"))
        else:
            checks.append(Check(name, value, limit, "pass" if value <= limit else "fail"))
    return AnalysisResult(checks)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def render_checks(result: AnalysisResult) -> list[str]:
    """Markdown table rows of the checks."""
    rows = ["| check | value | limit | outcome | note |", "|---|---|---|---|---|"]
    for c in result.checks:
        rows.append(f"| {c.name} | {c.value:.6g} | {c.limit:g} | {c.outcome} | {c.detail} |")
    return rows
