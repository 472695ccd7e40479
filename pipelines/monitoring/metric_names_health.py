"""Metric names of model and feature health, the success criteria and the service's tracking.

Part of the one list in :mod:`pipelines.monitoring.metric_names`, which imports every name
below; code and checks read them from there.
"""

from __future__ import annotations

from pipelines.monitoring.metric_spec import MetricSpec

__all__ = [
    "PREDICTIONS_SCORED",
    "PREDICTION_HITS",
    "PAPER_ORDERS",
    "PAPER_ORDER_QUANTITY",
    "FEATURE_HEALTH_CHECK_STATUS",
    "FEATURE_HEALTH_CHECK_VALUE",
    "FEATURE_OUTLIER_SHARE",
    "FEATURE_OUT_OF_RANGE_SHARE",
    "FEATURE_IMPORTANCE_SHARE",
    "MODEL_PREDICTION_IC",
    "MODEL_PREDICTION_HIT_RATE",
    "MODEL_BACKTEST_IC",
    "MODEL_BACKTEST_HIT_RATE",
    "DEPLOYMENTS",
    "ROLLBACKS",
    "ROLLBACK_SECONDS",
    "ROLLBACK_LAST_SECONDS",
    "INCIDENTS",
    "INCIDENT_DETECTION_SECONDS",
    "INCIDENT_RESOLUTION_SECONDS",
]

# Prediction accuracy and paper orders (pipelines/serving/tracking.py).
PREDICTIONS_SCORED = MetricSpec(
    "strategy_predictions_scored_total",
    "counter",
    "Predictions whose label horizon has passed and whose side was compared with the realised "
    "return (flat moves left out).",
    ("model_version", "instrument"),
)
PREDICTION_HITS = MetricSpec(
    "strategy_prediction_hits_total",
    "counter",
    "Scored predictions whose side (P(up) above or below 0.5) matched the realised return's sign.",
    ("model_version", "instrument"),
)
PAPER_ORDERS = MetricSpec(
    "strategy_paper_orders_total",
    "counter",
    "Paper orders: changes of the target position, by side (buy, sell).",
    ("model_version", "instrument", "side"),
)
PAPER_ORDER_QUANTITY = MetricSpec(
    "strategy_paper_order_quantity_total",
    "counter",
    "Sum of the paper orders' sizes (absolute position change, in position units).",
    ("model_version", "instrument"),
)

# The other checks of the hourly run (pipelines monitor health). Each check's status follows
# its limits in params.yaml (monitoring.checks), so the alert rules compare the status only and
# the limits have one home.
FEATURE_HEALTH_CHECK_STATUS = MetricSpec(
    "feature_health_check_status",
    "gauge",
    "Status of one hourly check: 0 ok, 1 warning, 2 critical.",
    ("check",),
)
FEATURE_HEALTH_CHECK_VALUE = MetricSpec(
    "feature_health_check_value",
    "gauge",
    "The figure an hourly check judges (absent when there was too little data to judge).",
    ("check",),
)
FEATURE_OUTLIER_SHARE = MetricSpec(
    "feature_outlier_share",
    "gauge",
    "Share of live values beyond the training reference's Tukey fences.",
    ("feature",),
)
FEATURE_OUT_OF_RANGE_SHARE = MetricSpec(
    "feature_out_of_range_share",
    "gauge",
    "Share of live values outside the training reference's minimum..maximum.",
    ("feature",),
)
FEATURE_IMPORTANCE_SHARE = MetricSpec(
    "feature_importance_share",
    "gauge",
    "Share of the model's mean |SHAP| per feature, on the live window or the reference.",
    ("feature", "sample"),
)
MODEL_PREDICTION_IC = MetricSpec(
    "model_prediction_ic",
    "gauge",
    "Rolling IC of the deployed model's predictions with realised returns (instrument 'all': "
    "mean over instruments).",
    ("instrument",),
)
MODEL_PREDICTION_HIT_RATE = MetricSpec(
    "model_prediction_hit_rate",
    "gauge",
    "Rolling share of predictions whose side matched the realised return's sign.",
    ("instrument",),
)
MODEL_BACKTEST_IC = MetricSpec(
    "model_backtest_ic",
    "gauge",
    "IC of the deployed model's walk-forward backtest (the baseline of model_prediction_ic).",
    ("instrument",),
)
MODEL_BACKTEST_HIT_RATE = MetricSpec(
    "model_backtest_hit_rate",
    "gauge",
    "Hit rate of the deployed model's walk-forward backtest.",
    ("instrument",),
)

# Success criteria (recording rules in monitoring/prometheus/rules/success.rules.yml). Counters
# are carried forward by each push, so a 30-day difference is exact.
DEPLOYMENTS = MetricSpec(
    "model_deployments_total",
    "counter",
    "Deployments by environment and outcome (success, failure).",
    ("environment", "status"),
)
ROLLBACKS = MetricSpec(
    "model_rollbacks_total", "counter", "Rollbacks completed, by environment.", ("environment",)
)
ROLLBACK_SECONDS = MetricSpec(
    "model_rollback_seconds_total",
    "counter",
    "Sum of rollback durations (trigger to the previous version serving), by environment.",
    ("environment",),
)
ROLLBACK_LAST_SECONDS = MetricSpec(
    "model_rollback_last_duration_seconds",
    "gauge",
    "Duration of the last rollback, by environment.",
    ("environment",),
)
INCIDENTS = MetricSpec(
    "incidents_total",
    "counter",
    "Resolved incidents by the alert that paged and whether it paged at all (detected).",
    ("alertname", "detected"),
)
INCIDENT_DETECTION_SECONDS = MetricSpec(
    "incident_detection_seconds_total",
    "counter",
    "Sum over detected incidents of alert fired minus incident start (for MTTD).",
    ("alertname",),
)
INCIDENT_RESOLUTION_SECONDS = MetricSpec(
    "incident_resolution_seconds_total",
    "counter",
    "Sum over detected incidents of resolved minus alert fired (for MTTR).",
    ("alertname",),
)
