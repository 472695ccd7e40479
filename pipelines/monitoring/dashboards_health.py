"""Dashboard panels of model and feature health and of the success criteria (pure).

Trading dashboard: prediction accuracy by instrument, the confidence distribution as a heatmap
and as the last hour's histogram, the signal answer rate (what the old "fill rate" panel
showed) and paper orders. Pipeline dashboard: one panel per hourly check and a "Success
criteria" row drawn from the recording rules of ``success.rules.yml``.
"""

from __future__ import annotations

from pipelines.monitoring.grafana import Panel, panel, row

CONFIDENCE = "strategy_prediction_confidence_bucket"


def _histogram(title: str, expr: str, kind: str, description: str) -> Panel:
    """A panel over a Prometheus histogram's buckets (per-bucket counts from cumulative ones)."""
    out = panel(title, [(expr, "{{le}}")], kind=kind, description=description)
    out["targets"][0].update(format="heatmap")
    if kind == "heatmap":
        out["options"] = {
            "calculate": False,
            "yAxis": {"unit": "short", "axisLabel": "confidence (0..1)"},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges"},
        }
    return out


def trading_panels() -> list[Panel]:
    """Accuracy, confidence distribution, answer rate and paper orders."""
    hits = "sum by (instrument) (increase(strategy_prediction_hits_total[7d]))"
    scored = "sum by (instrument) (increase(strategy_predictions_scored_total[7d]))"
    ok = 'sum(rate(strategy_requests_total{code=~"2.."}[1h]))'
    return [
        panel(
            "Prediction accuracy (hit rate, 7 days)",
            [
                (f"{hits} / {scored}", "{{instrument}}"),
                (
                    "sum(increase(strategy_prediction_hits_total[7d])) / "
                    "sum(increase(strategy_predictions_scored_total[7d]))",
                    "all instruments",
                ),
            ],
            unit="percentunit",
            description="Share of predictions whose side (P(up) above or below 0.5) matched "
            "the sign of the return over the label horizon; 50% is a coin.",
        ),
        _histogram(
            "Prediction confidence distribution",
            f"sum by (le) (increase({CONFIDENCE}[$__rate_interval]))",
            "heatmap",
            "Predictions per confidence bucket (|P(up) - 0.5| * 2) over time.",
        ),
        _histogram(
            "Prediction confidence, last hour",
            f"sum by (le) (increase({CONFIDENCE}[1h]))",
            "bargauge",
            "How many predictions of the last hour fell in each confidence bucket.",
        ),
        panel(
            "Signal answer rate (2xx share)",
            [(f"{ok} / sum(rate(strategy_requests_total[1h]))", "answered")],
            unit="percentunit",
            description="Share of signal requests answered with a position. Paper trading "
            "sends no orders to an exchange, so there are no fills to rate; paper orders are "
            "counted in the next panel.",
        ),
        panel(
            "Paper orders (per hour, by side)",
            [("sum by (side) (increase(strategy_paper_orders_total[1h]))", "{{side}}")],
            description="A change of the target position is a paper order for the difference, "
            "filled at the decision bar's close (what the paper returns assume).",
        ),
    ]


def _check(title: str, exprs: list[tuple[str, str]], unit: str, description: str) -> Panel:
    return panel(title, exprs, unit=unit, description=description)


def health_panels() -> list[Panel]:
    """One panel per hourly check besides PSI, KS and missing rate."""
    value = 'max(feature_health_check_value{{check="{c}"}})'
    return [
        panel(
            "Hourly checks (0 ok, 1 warning, 2 critical)",
            [("max by (check) (feature_health_check_status)", "{{check}}")],
            kind="table",
        ),
        _check(
            "Outliers: share beyond the Tukey fences",
            [('max by (feature) (feature_outlier_share{feature=~"$feature"})', "{{feature}}")],
            "percentunit",
            "Live values beyond Q1-3*IQR .. Q3+3*IQR of the training reference.",
        ),
        _check(
            "Value range: share outside the training range",
            [('max by (feature) (feature_out_of_range_share{feature=~"$feature"})', "{{feature}}")],
            "percentunit",
            "Live values below the training minimum or above its maximum.",
        ),
        _check(
            "Correlation stability (mean |change|)",
            [(value.format(c="correlation"), "mean |change|")],
            "short",
            "Mean absolute change of the pairwise feature correlations against training.",
        ),
        _check(
            "Feature importance: live vs training",
            [
                (value.format(c="importance"), "rank correlation"),
                (
                    'max by (feature) (feature_importance_share{sample="live"})',
                    "live {{feature}}",
                ),
            ],
            "short",
            "Spearman rank correlation of mean |SHAP| (1: same order) and each feature's share.",
        ),
        _check(
            "Prediction power: live vs backtest",
            [
                ('max(model_prediction_ic{instrument="all"})', "IC live"),
                ('max(model_backtest_ic{instrument="all"})', "IC backtest"),
                ('max(model_prediction_hit_rate{instrument="all"})', "hit rate live"),
                ('max(model_backtest_hit_rate{instrument="all"})', "hit rate backtest"),
            ],
            "short",
            "Rolling IC and hit rate of realised predictions after the training span.",
        ),
        _check(
            "Confidence distribution shift (PSI)",
            [(value.format(c="confidence"), "PSI")],
            "short",
            "Decile PSI of the prediction confidence, live vs training.",
        ),
    ]


def success_row() -> list[Panel]:
    """The success criteria: pipelines, deployments, rollbacks, MTTD and MTTR (30 days)."""
    return [
        row("Success criteria (30 days)"),
        panel(
            "Pipeline success rate (30 days)",
            [("pipeline:success_ratio:30d", "{{pipeline}}")],
            unit="percentunit",
        ),
        panel(
            "Deployments per week and success rate (30 days)",
            [
                ("deployment:per_week:30d", "per week {{environment}}"),
                ("deployment:success_ratio:30d", "success {{environment}}"),
            ],
        ),
        panel(
            "Rollback time",
            [
                ("deployment:rollback_seconds:mean30d", "mean 30 d {{environment}}"),
                ("deployment:rollback_seconds:last", "last {{environment}}"),
            ],
            unit="s",
        ),
        panel(
            "MTTD and MTTR (30 days)",
            [
                ("incident:mttd_seconds:mean30d", "MTTD {{alertname}}"),
                ("incident:mttr_seconds:mean30d", "MTTR {{alertname}}"),
            ],
            unit="s",
            description="MTTD: alert fired minus incident start; MTTR: resolved minus fired.",
        ),
    ]
