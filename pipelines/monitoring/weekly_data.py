"""The weekly performance report's figures, read from Prometheus (what the service and jobs fed it).

Over a period (7 days by default) of one environment's namespace, in ``steps`` equal buckets:

* **PnL**: the equal-weight portfolio's per-bucket paper return (gains minus losses of all
  realised per-bar returns, over the number of instruments), cumulated; **drawdown** from
  that curve's running peak.
* **Sharpe**: per bucket and for the whole period, from the realised per-bar returns' count,
  sum and sum of squares (the trading dashboard's definition), annualised by the bars per year
  of ``data.frequency``.
* **Drift**: the largest feature PSI and the hourly check's status over time, and each check's
  status at the end.
* **Deployments** of the period (success and failure, environment and version) and the alerts
  that fired (first and last time seen firing).

Shadow traffic (a canary's mirrored requests) is left out by ``traffic!="shadow"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.monitoring import prom_read


@dataclass
class WeeklyFigures:
    """Everything the report shows."""

    environment: str
    start: float
    end: float
    step: float
    times: list[float] = field(default_factory=list)
    pnl: list[float] = field(default_factory=list)
    drawdown: list[float] = field(default_factory=list)
    sharpe_by_bucket: list[float] = field(default_factory=list)
    period: dict[str, float | None] = field(default_factory=dict)
    psi_max: list[float] = field(default_factory=list)
    health_status: list[float] = field(default_factory=list)
    checks: dict[str, float] = field(default_factory=dict)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


def _sel(namespace: str) -> str:
    return f'namespace="{namespace}", traffic!="shadow"'


def _aligned(series: list[prom_read.Series], times: list[float]) -> list[float]:
    values = {round(t): v for t, v in series[0].points} if series else {}
    return [values.get(round(t), math.nan) for t in times]


def sharpe(count: float, total: float, squares: float, per_year: float) -> float:
    """Annualised Sharpe of per-bar returns from their count, sum and sum of squares."""
    if not (count and count >= 2) or not all(map(math.isfinite, (total, squares))):
        return math.nan
    mean = total / count
    variance = squares / count - mean * mean
    if variance <= 0:
        return math.nan
    return mean / math.sqrt(variance) * math.sqrt(per_year)


def drawdowns(equity: list[float]) -> list[float]:
    """Distance below the running peak of a cumulative-return curve (NaN treated as flat)."""
    curve = np.nan_to_num(np.asarray(equity, dtype="float64"), nan=0.0)
    return (np.maximum.accumulate(np.maximum(curve, 0.0)) - curve).tolist() if curve.size else []


def collect(
    url: str, environment: str, start: float, end: float, steps: int, per_year: float
) -> WeeklyFigures:
    """Query every figure of the report for ``environment`` (namespace ``trading-<env>``)."""
    ns = f"trading-{environment}"
    start, end = float(math.floor(start)), float(math.ceil(end))
    step = float(max(int((end - start) / steps), 1))
    win = f"{int(step)}s"
    figures = WeeklyFigures(environment, start, end, step)
    sel = _sel(ns)
    n_inst = f"count(count by (instrument) (strategy_paper_gain_sum_total{{{sel}}}))"
    gain, loss = (
        f"sum(increase(strategy_paper_gain_sum_total{{{sel}}}[{win}]))",
        f"sum(increase(strategy_paper_loss_sum_total{{{sel}}}[{win}]))",
    )
    returns = prom_read.ranged(url, f"({gain} - {loss}) / {n_inst}", start + step, end, step)
    figures.times = [start + step * (i + 1) for i in range(steps)]
    per_bucket = _aligned(returns, figures.times)
    figures.pnl = np.cumsum(np.nan_to_num(per_bucket, nan=0.0)).tolist()
    figures.drawdown = drawdowns(figures.pnl)
    moments = {}
    for name, metric in (
        ("count", "strategy_paper_returns_total"),
        ("squares", "strategy_paper_return_squared_sum_total"),
    ):
        query = f"sum(increase({metric}{{{sel}}}[{win}]))"
        moments[name] = _aligned(
            prom_read.ranged(url, query, start + step, end, step), figures.times
        )
    totals = _aligned(
        prom_read.ranged(url, f"{gain} - {loss}", start + step, end, step), figures.times
    )
    figures.sharpe_by_bucket = [
        sharpe(c, t, q, per_year)
        for c, t, q in zip(moments["count"], totals, moments["squares"], strict=True)
    ]
    figures.period = _period(url, sel, n_inst, end, f"{int(end - start)}s", per_year)
    figures.period["max_drawdown"] = max(figures.drawdown, default=None)
    figures.psi_max = _aligned(
        prom_read.ranged(url, "max(feature_psi)", start + step, end, step), figures.times
    )
    figures.health_status = _aligned(
        prom_read.ranged(url, "max(feature_health_status)", start + step, end, step), figures.times
    )
    figures.checks = {
        s.labels.get("check", "?"): s.points[0][1]
        for s in prom_read.instant(url, "max by (check) (feature_health_check_status)", end)
    }
    figures.deployments = _deployments(url, start, end)
    figures.alerts = _alerts(url, start, end, step)
    return figures


def _period(
    url: str, sel: str, n_inst: str, end: float, period: str, per_year: float
) -> dict[str, float | None]:
    def one(query: str) -> float | None:
        return prom_read.scalar(url, query, end)

    count = one(f"sum(increase(strategy_paper_returns_total{{{sel}}}[{period}]))")
    total = one(
        f"sum(increase(strategy_paper_gain_sum_total{{{sel}}}[{period}])) - "
        f"sum(increase(strategy_paper_loss_sum_total{{{sel}}}[{period}]))"
    )
    squares = one(f"sum(increase(strategy_paper_return_squared_sum_total{{{sel}}}[{period}]))")
    wins = one(f"sum(increase(strategy_trade_wins_total{{{sel}}}[{period}]))")
    losses = one(f"sum(increase(strategy_trade_losses_total{{{sel}}}[{period}]))")
    instruments = one(n_inst)
    value = sharpe(count or 0.0, total or math.nan, squares or math.nan, per_year)
    return {
        "returns": count,
        "pnl": (total / instruments) if total is not None and instruments else None,
        "sharpe": None if math.isnan(value) else value,
        "win_rate": wins / (wins + losses)
        if wins is not None and losses and wins + losses
        else None,
        "instruments": instruments,
    }


def _deployments(url: str, start: float, end: float) -> list[dict[str, Any]]:
    rows = []
    for metric, outcome in (
        ("model_deployment_last_success_timestamp_seconds", "success"),
        ("model_deployment_last_failure_timestamp_seconds", "failure"),
    ):
        for s in prom_read.instant(url, f"max by (environment, model_version) ({metric})", end):
            when = s.points[0][1]
            if start <= when <= end:
                rows.append(
                    {
                        "at": when,
                        "environment": s.labels.get("environment", "?"),
                        "model_version": s.labels.get("model_version", "?"),
                        "outcome": outcome,
                    }
                )
    return sorted(rows, key=lambda r: r["at"])


def _alerts(url: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    query = 'max by (alertname, severity) (ALERTS{alertstate="firing"})'
    rows = []
    for s in prom_read.ranged(url, query, start, end, max(step / 4, 1.0)):
        times = [t for t, v in s.points if v == 1]
        if times:
            rows.append(
                {
                    "alertname": s.labels.get("alertname", "?"),
                    "severity": s.labels.get("severity", "?"),
                    "first": min(times),
                    "last": max(times),
                }
            )
    return sorted(rows, key=lambda r: r["first"])
