"""``pipelines analyze``: read canary and stable windows from Prometheus, print the verdict.

I/O edge of :mod:`pipelines.delivery.analysis`: it queries the Prometheus HTTP API
(``/api/v1/query``) for both sides over the same instruments and window, then applies the
pure rules. A side is the series whose ``label`` equals a value: by default the
``rollouts_pod_template_hash`` target label (canary and stable ReplicaSets), or ``model_version``.
Exit status 0 pass, 1 fail, 3 inconclusive (too few trades), 2 error.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipelines.delivery.analysis import (
    AnalysisResult,
    SideStats,
    Thresholds,
    analyse,
    render_checks,
)
from pipelines.errors import ConfigError, PipelineError
from pipelines.io import atomic

log = logging.getLogger("pipelines.delivery.analysis")
HASH_LABEL = "rollouts_pod_template_hash"
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Side:
    """Which series are one side of the comparison: ``label="value"``."""

    label: str
    value: str

    def __post_init__(self) -> None:
        if not LABEL_NAME.match(self.label):
            raise ConfigError(f"analyze: label {self.label!r} is not a Prometheus label name")
        if not self.value:
            raise ConfigError(f"analyze: empty value for label {self.label}")

    def __str__(self) -> str:
        return f'{self.label}="{self.value}"'


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def side_queries(side: Side, instruments: str, window: str) -> dict[str, str]:
    """PromQL for one side's window, keyed by :class:`SideStats` field."""
    ver = f'{side.label}="{_label(side.value)}"'
    sel = f'{ver},instrument=~"{_label(instruments)}"'

    def inc(name: str) -> str:
        return f"sum(increase({name}{{{sel}}}[{window}]))"

    return {
        "requests": inc("strategy_requests_total"),
        "errors": f"{inc('strategy_errors_total')} or vector(0)",
        "latency_p99": (
            "histogram_quantile(0.99, sum by (le) "
            f"(rate(strategy_request_latency_seconds_bucket{{{ver}}}[{window}])))"
        ),
        "trips_per_hour": (
            f"sum(rate(strategy_circuit_breaker_trips_total{{{ver}}}[{window}])) * 3600"
        ),
        "returns": inc("strategy_paper_returns_total"),
        "return_sum": (
            f"{inc('strategy_paper_gain_sum_total')} - {inc('strategy_paper_loss_sum_total')}"
        ),
        "return_squared_sum": inc("strategy_paper_return_squared_sum_total"),
        "wins": inc("strategy_trade_wins_total"),
        "losses": inc("strategy_trade_losses_total"),
    }


def query_scalar(client: httpx.Client, url: str, promql: str) -> float | None:
    """First value of an instant query; None when the result is empty.

    Raises:
        PipelineError: Prometheus is unreachable or answers an error.
    """
    try:
        reply = client.get(f"{url.rstrip('/')}/api/v1/query", params={"query": promql})
        payload = reply.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PipelineError(f"prometheus at {url}: query failed ({exc})") from None
    if payload.get("status") != "success":
        raise PipelineError(f"prometheus at {url}: {payload.get('error', 'query failed')}")
    result = payload["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return value


def fetch_side(
    client: httpx.Client, url: str, side: Side, instruments: str, window: str
) -> SideStats:
    """Query every field of one side's window."""
    values = {
        key: query_scalar(client, url, promql)
        for key, promql in side_queries(side, instruments, window).items()
    }
    return SideStats(**values)


def report_text(
    result: AnalysisResult, canary: Side, stable: Side, instruments: str, window: str
) -> str:
    """Markdown summary of an analysis."""
    lines = [
        f"Canary `{canary}` vs stable `{stable}` on instruments `{instruments}`, window {window}:"
        f" **{result.outcome.upper()}**",
        "",
        *render_checks(result),
    ]
    return "\n".join(lines) + "\n"


def main(
    prometheus_url: str,
    canary: Side,
    stable: Side,
    instruments: str,
    limits: Thresholds,
    report: str | None = None,
) -> int:
    """Run the analysis against Prometheus; print it; return 0 pass, 1 fail, 3 inconclusive.

    Args:
        prometheus_url: Base URL of the Prometheus HTTP API.
        canary: Series of the canary (e.g. its pod-template hash).
        stable: Series of the stable side, selected by the same label.
        instruments: Regex of the instruments routed to the canary.
        limits: Thresholds and window.
        report: Also write the Markdown summary to this file.
    """
    with httpx.Client(timeout=30.0) as client:
        canary_stats = fetch_side(client, prometheus_url, canary, instruments, limits.window)
        stable_stats = fetch_side(client, prometheus_url, stable, instruments, limits.window)
    result = analyse(canary_stats, stable_stats, limits)
    text = report_text(result, canary, stable, instruments, limits.window)
    sys.stdout.write(text)
    if report:
        atomic.write_text(Path(report), text)
    for check in result.checks:
        if check.outcome != "pass":
            value = "missing" if math.isnan(check.value) else f"{check.value:.6g}"
            log.warning(
                "%s: %s %s (limit %g) %s",
                check.outcome,
                check.name,
                value,
                check.limit,
                check.detail,
            )
    return result.exit_code
