"""The three Grafana dashboards (system, trading, pipeline), generated from code.

``pipelines monitor dashboards`` writes them to ``monitoring/grafana/*.json``; with ``--check``
it fails when the committed files differ from what this module generates. Every expression uses
names from :mod:`pipelines.monitoring.metric_names` only (checked by the metric-name test).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.monitoring import dashboards_health
from pipelines.monitoring.grafana import dashboard, panel

SERVICE = 'job=~"strategy-service.*"'


def _quantile(q: str) -> str:
    return (
        f"histogram_quantile({q}, sum by (le) "
        f"(rate(strategy_request_latency_seconds_bucket[$__rate_interval])))"
    )


def system() -> dict[str, Any]:
    """CPU, memory, request rate, error rate, latency p50/p95/p99, targets up."""
    rate = "sum by (model_version) (rate(strategy_requests_total[$__rate_interval]))"
    errors = "sum by (model_version) (rate(strategy_errors_total[$__rate_interval]))"
    return dashboard(
        "trading-system",
        "Trading system",
        [
            panel(
                "CPU (cores)",
                [
                    (
                        f"sum by (pod) (rate(process_cpu_seconds_total{{{SERVICE}}}"
                        "[$__rate_interval]))",
                        "{{pod}}",
                    )
                ],
            ),
            panel(
                "Memory (resident)",
                [(f"sum by (pod) (process_resident_memory_bytes{{{SERVICE}}})", "{{pod}}")],
                unit="bytes",
            ),
            panel("Request rate", [(rate, "{{model_version}}")], unit="reqps"),
            panel(
                "Error rate",
                [(f"{errors} / {rate}", "{{model_version}}")],
                unit="percentunit",
                description="Failed signal requests over all requests; the rollback trigger is 1%.",
            ),
            panel(
                "Latency p50 / p95 / p99",
                [(_quantile("0.5"), "p50"), (_quantile("0.95"), "p95"), (_quantile("0.99"), "p99")],
                unit="s",
                description="The p99 alert and rollback trigger is 200 ms.",
            ),
            panel(
                "Targets up", [(f"sum(up{{{SERVICE}}})", "up"), ("sum(strategy_ready)", "ready")]
            ),
            panel(
                "Circuit breaker",
                [
                    (
                        "max by (model_version) (strategy_circuit_breaker_open)",
                        "open {{model_version}}",
                    ),
                    (
                        "sum by (model_version) "
                        "(increase(strategy_circuit_breaker_trips_total[1h]))",
                        "trips/h {{model_version}}",
                    ),
                ],
            ),
        ],
        [],
    )


def _window(metric: str, window: str) -> str:
    return f"sum(increase({metric}[{window}]))"


def trading() -> dict[str, Any]:
    """Sharpe, daily PnL, win rate, drawdown, positions, accuracy, confidence, orders."""
    n = _window("strategy_paper_returns_total", "7d")
    mean = (
        f"(({_window('strategy_paper_gain_sum_total', '7d')} - "
        f"{_window('strategy_paper_loss_sum_total', '7d')}) / {n})"
    )
    second = f"({_window('strategy_paper_return_squared_sum_total', '7d')} / {n})"
    sharpe = f"{mean} / sqrt({second} - {mean} ^ 2) * $bars_per_year ^ 0.5"
    instruments = "count(count by (instrument) (strategy_paper_gain_sum_total))"
    daily = (
        f"({_window('strategy_paper_gain_sum_total', '1d')} - "
        f"{_window('strategy_paper_loss_sum_total', '1d')}) / {instruments}"
    )
    equity = (
        f"((sum(strategy_paper_gain_sum_total) - sum(strategy_paper_loss_sum_total)) "
        f"/ {instruments})"
    )
    wins, losses = (
        _window("strategy_trade_wins_total", "7d"),
        _window("strategy_trade_losses_total", "7d"),
    )
    bars = {
        "name": "bars_per_year",
        "type": "custom",
        "query": "252,8760,525600",
        "current": {"text": "252", "value": "252"},
        "label": "Bars per year (daily 252, hourly 8760, minute 525600)",
    }
    return dashboard(
        "trading-performance",
        "Trading performance",
        [
            panel(
                "Rolling 7-day Sharpe (annualised)",
                [(sharpe, "Sharpe")],
                description="Mean over standard deviation of realised per-bar paper returns "
                "over 7 days, times sqrt(bars per year).",
            ),
            panel(
                "Daily PnL (24 h, equal-weight)",
                [(daily, "PnL")],
                unit="percentunit",
                description="The critical alert fires below -5%.",
            ),
            panel(
                "Win rate (7 days)",
                [(f"{wins} / ({wins} + {losses})", "win rate")],
                unit="percentunit",
                description="Warning below 50% with at least 30 returns.",
            ),
            panel(
                "Drawdown from the 30-day peak",
                [
                    (f"max_over_time({equity}[30d:1h]) - {equity}", "drawdown"),
                ],
                unit="percentunit",
                description="Cumulative paper return per instrument, its running 30-day peak "
                "minus now (a service restart resets the counters).",
            ),
            panel(
                "Open positions",
                [
                    ("count(strategy_position != 0)", "open"),
                    ("sum by (instrument) (strategy_position)", "{{instrument}}"),
                ],
            ),
            *dashboards_health.trading_panels(),
        ],
        [bars],
    )


def pipeline() -> dict[str, Any]:
    """Data freshness, completeness, success rate, latency, PSI per feature, deployed version."""
    runs = 'sum by (pipeline) (increase(pipeline_runs_total{{status=~"{s}"}}[7d]))'
    feature = {
        "name": "feature",
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": "label_values(feature_psi, feature)",
        "multi": True,
        "includeAll": True,
    }
    return dashboard(
        "trading-pipelines",
        "Pipelines and feature health",
        [
            panel(
                "Data freshness (age of the latest bar)",
                [
                    (
                        "time() - max by (instrument) (data_latest_bar_timestamp_seconds)",
                        "{{instrument}}",
                    )
                ],
                unit="s",
            ),
            panel(
                "Feature completeness",
                [('1 - feature_missing_rate{feature=~"$feature"}', "{{feature}}")],
                unit="percentunit",
                description="Warning below 95%, critical below 90%.",
            ),
            panel(
                "Pipeline success rate (7 days)",
                [
                    (
                        f"{runs.format(s='success')} / {runs.format(s='success|failure')}",
                        "{{pipeline}}",
                    )
                ],
                unit="percentunit",
            ),
            panel(
                "Processing latency (last run)",
                [("max by (pipeline) (pipeline_duration_seconds)", "{{pipeline}}")],
                unit="s",
            ),
            panel(
                "Time since last success",
                [
                    (
                        "time() - max by (pipeline) (pipeline_last_success_timestamp_seconds)",
                        "{{pipeline}}",
                    )
                ],
                unit="s",
                description="Stale at twice the schedule: data 2 d, training 14 d, health 2 h.",
            ),
            panel(
                "PSI per feature",
                [
                    ('max by (feature) (feature_psi{feature=~"$feature"})', "{{feature}}"),
                    (
                        'max by (feature) (feature_psi_limit{level="critical", '
                        'feature=~"$feature"})',
                        "{{feature}} critical limit",
                    ),
                ],
                description=(
                    "Reference deciles. Each feature's warning and critical limits are its PSI's "
                    "95th and 99th percentiles over the model's history (at least 0.2 and 0.3)."
                ),
            ),
            panel(
                "KS statistic per feature",
                [('max by (feature) (feature_ks_statistic{feature=~"$feature"})', "{{feature}}")],
            ),
            panel(
                "Feature health status",
                [("feature_health_status", "0 ok, 1 warn, 2 crit")],
                kind="stat",
            ),
            panel(
                "Deployed model version",
                [
                    (
                        "max by (model_version, sha256) (strategy_model_info)",
                        "{{model_version}} {{sha256}}",
                    )
                ],
                kind="table",
            ),
            panel(
                "Deployments",
                [
                    (
                        "max by (environment, model_version) "
                        "(model_deployment_last_success_timestamp_seconds) * 1000",
                        "{{environment}} {{model_version}}",
                    )
                ],
                unit="dateTimeAsIso",
                kind="table",
            ),
            *dashboards_health.health_panels(),
            *dashboards_health.success_row(),
        ],
        [feature],
    )


BUILDERS = {"system": system, "trading": trading, "pipeline": pipeline}


def render(name: str) -> str:
    """The JSON text of one dashboard, as committed."""
    return json.dumps(BUILDERS[name](), indent=2, sort_keys=True) + "\n"


def main(out: str, check: bool = False) -> int:
    """Write (or with ``check``, compare) the dashboards in ``out``; return 0.

    Raises:
        PipelineError: With ``check``, a committed dashboard differs from the generated one.
    """
    folder = Path(out)
    for name in BUILDERS:
        path = folder / f"{name}.json"
        text = render(name)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                raise PipelineError(
                    f"{path}: differs from the generated dashboard; run `pipelines monitor "
                    "dashboards`",
                    exit_code=1,
                )
        else:
            atomic.write_text(path, text)
    return 0
