"""``pipelines analyze``: read canary and stable windows from Prometheus, print the verdict.

I/O edge of :mod:`pipelines.delivery.analysis`: it queries the Prometheus HTTP API
(``/api/v1/query``) for both versions over the same instruments and window, then applies the
pure rules. Exit status 0 pass, 1 fail, 3 inconclusive (too few trades), 2 error.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import httpx

from pipelines.delivery.analysis import (
    AnalysisResult,
    SideStats,
    Thresholds,
    analyse,
    render_checks,
)
from pipelines.errors import PipelineError
from pipelines.io import atomic

log = logging.getLogger("pipelines.delivery.analysis")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def side_queries(version: str, instruments: str, window: str) -> dict[str, str]:
    """PromQL for one version's window, keyed by :class:`SideStats` field."""
    sel = f'model_version="{_label(version)}",instrument=~"{_label(instruments)}"'
    ver = f'model_version="{_label(version)}"'

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
    client: httpx.Client, url: str, version: str, instruments: str, window: str
) -> SideStats:
    """Query every field of one version's window."""
    values = {
        key: query_scalar(client, url, promql)
        for key, promql in side_queries(version, instruments, window).items()
    }
    return SideStats(**values)


def report_text(
    result: AnalysisResult, canary: str, stable: str, instruments: str, window: str
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
    canary_version: str,
    stable_version: str,
    instruments: str,
    limits: Thresholds,
    report: str | None = None,
) -> int:
    """Run the analysis against Prometheus; print it; return 0 pass, 1 fail, 3 inconclusive."""
    with httpx.Client(timeout=30.0) as client:
        canary = fetch_side(client, prometheus_url, canary_version, instruments, limits.window)
        stable = fetch_side(client, prometheus_url, stable_version, instruments, limits.window)
    result = analyse(canary, stable, limits)
    text = report_text(result, canary_version, stable_version, instruments, limits.window)
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
