"""``pipelines analyze``: the canary verdict from Prometheus, the CLI twin of the templates.

I/O edge of :mod:`pipelines.delivery.analysis`. It queries the Prometheus HTTP API
(``/api/v1/query``) over one window: the canary's service level from all its traffic, and the
trading KPIs of the canary's ``traffic="shadow"`` series against the stable's
``traffic="live"`` series on the paired instruments (``--instruments``: those not yet routed).
A side is the series whose ``label`` equals a value: by default the
``rollouts_pod_template_hash`` target label (canary and stable ReplicaSets), or
``model_version``. The AnalysisRun measures service level every interval; this command
measures it once over the whole window. Exit status 0 pass, 1 fail, 3 inconclusive, 2 error.
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
    ServiceStats,
    Thresholds,
    TradeStats,
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

    def selector(self) -> str:
        """The label matcher of this side (value escaped)."""
        return f'{self.label}="{_label(self.value)}"'


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def service_queries(side: Side, window: str) -> dict[str, str]:
    """PromQL of the canary's service level (all traffic), keyed by :class:`ServiceStats`."""
    sel = side.selector()
    return {
        "requests": f"sum(increase(strategy_requests_total{{{sel}}}[{window}]))",
        "errors": f"sum(increase(strategy_errors_total{{{sel}}}[{window}])) or vector(0)",
        "latency_p99": (
            "histogram_quantile(0.99, sum by (le) "
            f"(rate(strategy_request_latency_seconds_bucket{{{sel}}}[{window}])))"
        ),
        "trips_per_hour": (
            f"sum(rate(strategy_circuit_breaker_trips_total{{{sel}}}[{window}])) * 3600"
        ),
    }


def trade_queries(
    canary: tuple[Side, str],
    stable: tuple[Side, str],
    instruments: str,
    since: str,
    resolution: str = "15s",
) -> tuple[dict[str, str], dict[str, str]]:
    """PromQL of both sides' paper returns on the same bars, keyed by field (canary, stable).

    As the trading-KPI template: each side's counters are read at subquery instants when both
    hold the same newest bar of the instrument; a side's count is its value at the latest such
    instant minus its value at the first one after the canary realised a return.
    """

    def selector(side: tuple[Side, str]) -> str:
        return (
            f'{side[0].selector()},traffic="{_label(side[1])}",instrument=~"{_label(instruments)}"'
        )

    c_sel, s_sel = selector(canary), selector(stable)
    last = "strategy_last_bar_timestamp_seconds"
    sync = (
        f"(max by (instrument) ({last}{{{s_sel}}}) == on(instrument) "
        f"max by (instrument) ({last}{{{c_sel}}}))"
    )
    started = f"(sum by (instrument) (strategy_paper_returns_total{{{c_sel}}}) > 0)"

    def per(name: str, sel: str) -> str:
        total = f"sum by (instrument) ({name}{{{sel}}})"
        newest = f"max_over_time(({total} and on(instrument) {sync})[{since}:{resolution}])"
        first = (
            f"min_over_time(({total} and on(instrument) {sync} and on(instrument) {started})"
            f"[{since}:{resolution}])"
        )
        return f"({newest} - {first})"

    def side(sel: str) -> dict[str, str]:
        return {
            "returns_by_instrument": per("strategy_paper_returns_total", sel),
            "gain": f"sum{per('strategy_paper_gain_sum_total', sel)}",
            "loss": f"sum{per('strategy_paper_loss_sum_total', sel)}",
            "squared": f"sum{per('strategy_paper_return_squared_sum_total', sel)}",
            "wins": f"sum{per('strategy_trade_wins_total', sel)}",
            "losses": f"sum{per('strategy_trade_losses_total', sel)}",
        }

    return side(c_sel), side(s_sel)


def query_vector(client: httpx.Client, url: str, promql: str) -> list[tuple[dict[str, str], float]]:
    """An instant query's samples as (labels, value).

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
    return [(r.get("metric", {}), float(r["value"][1])) for r in payload["data"]["result"]]


def query_scalar(client: httpx.Client, url: str, promql: str) -> float | None:
    """First value of an instant query; None when the result is empty."""
    found = query_vector(client, url, promql)
    return found[0][1] if found else None


def fetch_service(client: httpx.Client, url: str, side: Side, window: str) -> ServiceStats:
    """The canary's service level over the window."""
    values = {k: query_scalar(client, url, q) for k, q in service_queries(side, window).items()}
    return ServiceStats(**values)


def fetch_trades(client: httpx.Client, url: str, queries: dict[str, str]) -> TradeStats:
    """One side's paper returns from its :func:`trade_queries`."""
    queries = dict(queries)
    by_instrument = {
        labels.get("instrument", ""): value
        for labels, value in query_vector(client, url, queries.pop("returns_by_instrument"))
    }
    sums = {k: query_scalar(client, url, q) or 0.0 for k, q in queries.items()}
    return TradeStats(by_instrument, **sums)


def report_text(
    result: AnalysisResult, canary: Side, stable: Side, instruments: str, window: str
) -> str:
    """Markdown summary of an analysis."""
    paired = "" if result.paired is None else f", {result.paired:.0f} paired paper returns"
    lines = [
        f"Canary `{canary}` (shadow) vs stable `{stable}` (live) on instruments `{instruments}`,"
        f" window {window}{paired}: **{result.outcome.upper()}**",
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
    kpis: bool = True,
    traffic: tuple[str, str] = ("shadow", "live"),
    resolution: str = "15s",
) -> int:
    """Run the analysis against Prometheus; print it; return 0 pass, 1 fail, 3 inconclusive.

    Args:
        prometheus_url: Base URL of the Prometheus HTTP API.
        canary: Series of the canary (e.g. its pod-template hash).
        stable: Series of the stable side, selected by the same label.
        instruments: Regex of the paired instruments (not yet routed to the canary).
        limits: Thresholds and window.
        report: Also write the Markdown summary to this file.
        kpis: Compare trading KPIs (False: service level only, as the 100% step).
        traffic: The ``traffic`` label of the canary's and the stable's KPI series.
        resolution: Subquery step of the stable's restricted counters (the scrape interval).
    """
    window = limits.window
    with httpx.Client(timeout=30.0) as client:
        service = fetch_service(client, prometheus_url, canary, window)
        pair = None
        if kpis:
            queries = trade_queries(
                (canary, traffic[0]), (stable, traffic[1]), instruments, window, resolution
            )
            pair = tuple(fetch_trades(client, prometheus_url, q) for q in queries)
    result = analyse(service, pair[0] if pair else None, pair[1] if pair else None, limits)
    text = report_text(result, canary, stable, instruments, window)
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
