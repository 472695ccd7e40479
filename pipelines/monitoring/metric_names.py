"""Every Prometheus metric name the project exports: the one source of truth.

Alert rules, Grafana dashboards and Argo AnalysisTemplates may only use names listed here (a test
parses every PromQL expression and checks). Exporters build their collectors from these specs.
Histogram and counter names are the base names; Prometheus adds ``_bucket``, ``_sum``,
``_count`` (histograms) and ``_total`` (counters, already part of the names below), and
``_created`` series.
"""

from __future__ import annotations

# Model and feature health, the success criteria and the service's accuracy and orders are
# defined beside (the operations work) and named here: this module stays the one list.
from pipelines.monitoring.metric_names_health import *  # noqa: F403
from pipelines.monitoring.metric_spec import Kind as Kind
from pipelines.monitoring.metric_spec import MetricSpec

# --- strategy service (pipelines serve) ---------------------------------------------------
# ``traffic`` is "live" for requests a client sent and "shadow" for copies the mesh mirrored to
# a canary or preview (Istio sets their Host to ``<host>-shadow``): the canary analysis compares
# a canary's shadow paper returns with the stable's live ones on the same bars, and dashboards
# that sum PnL or positions should keep ``traffic="live"`` (or ``traffic!="shadow"``).
TRAFFIC_LIVE = "live"
TRAFFIC_SHADOW = "shadow"
REQUESTS = MetricSpec(
    "strategy_requests_total",
    "counter",
    "Signal requests answered, by model version, instrument and HTTP status code.",
    ("model_version", "instrument", "code", "traffic"),
)
ERRORS = MetricSpec(
    "strategy_errors_total",
    "counter",
    "Signal requests answered 5xx (model errors, timeouts, invalid model output, internal "
    "errors, not ready), by reason; client errors (4xx) are not counted here.",
    ("model_version", "instrument", "reason", "traffic"),
)
LATENCY = MetricSpec(
    "strategy_request_latency_seconds",
    "histogram",
    "Signal request latency in seconds, by model version.",
    ("model_version", "traffic"),
)
PAPER_RETURN_SUM = MetricSpec(
    "strategy_paper_return_sum_total",
    "counter",
    "Sum of realised per-bar paper returns (position times next return), in return units.",
    ("model_version", "instrument"),
)
PAPER_RETURN_SQUARED_SUM = MetricSpec(
    "strategy_paper_return_squared_sum_total",
    "counter",
    "Sum of squared realised per-bar paper returns (for a windowed standard deviation).",
    ("model_version", "instrument", "traffic"),
)
PAPER_RETURNS = MetricSpec(
    "strategy_paper_returns_total",
    "counter",
    "Number of realised per-bar paper returns (bars with a position held).",
    ("model_version", "instrument", "traffic"),
)
WINS = MetricSpec(
    "strategy_trade_wins_total",
    "counter",
    "Realised paper returns greater than zero.",
    ("model_version", "instrument", "traffic"),
)
LOSSES = MetricSpec(
    "strategy_trade_losses_total",
    "counter",
    "Realised paper returns less than zero.",
    ("model_version", "instrument", "traffic"),
)
POSITION = MetricSpec(
    "strategy_position",
    "gauge",
    "Current target position per instrument (-1 short .. 1 long).",
    ("model_version", "instrument", "traffic"),
)
CONFIDENCE = MetricSpec(
    "strategy_prediction_confidence",
    "histogram",
    "Confidence of each prediction (0..1).",
    ("model_version",),
)
CIRCUIT_OPEN = MetricSpec(
    "strategy_circuit_breaker_open",
    "gauge",
    "1 while the instrument's circuit breaker is open (answering flat), else 0.",
    ("model_version", "instrument"),
)
CIRCUIT_TRIPS = MetricSpec(
    "strategy_circuit_breaker_trips_total",
    "counter",
    "Times an instrument's circuit breaker opened, by the reason of the failure that opened it.",
    ("model_version", "instrument", "reason"),
)
MODEL_INFO = MetricSpec(
    "strategy_model_info",
    "gauge",
    "Always 1; labels name the loaded model version and its sha256.",
    ("model_version", "sha256"),
)
READY = MetricSpec(
    "strategy_ready",
    "gauge",
    "1 when the model is loaded, verified and warmed, else 0.",
    ("model_version",),
)

# Prometheus counters cannot go down, so the signed sum of paper returns above cannot be exported
# as a counter: the service exports its positive and negative parts instead (signed sum in a
# window = increase(gain) - increase(loss)). Appended by the service work.
PAPER_GAIN_SUM = MetricSpec(
    "strategy_paper_gain_sum_total",
    "counter",
    "Sum of the positive realised per-bar paper returns, in return units.",
    ("model_version", "instrument", "traffic"),
)
PAPER_LOSS_SUM = MetricSpec(
    "strategy_paper_loss_sum_total",
    "counter",
    "Sum of the absolute values of the negative realised per-bar paper returns.",
    ("model_version", "instrument", "traffic"),
)

# The market time of the newest bar an instance holds per instrument: the canary analysis pairs
# a canary's shadow counters with the stable's live ones only at instants when both hold the
# same newest bar, so both count exactly the same bars. Appended by the canary work.
LAST_BAR = MetricSpec(
    "strategy_last_bar_timestamp_seconds",
    "gauge",
    "Market time of the newest bar held, per instrument (seconds since the epoch).",
    ("model_version", "instrument", "traffic"),
)

# --- pipelines (CI / Argo jobs, textfile collector or Pushgateway) ---------------------------
PIPELINE_LAST_SUCCESS = MetricSpec(
    "pipeline_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful run, by pipeline (data, training, feature_health).",
    ("pipeline",),
)
PIPELINE_LAST_FAILURE = MetricSpec(
    "pipeline_last_failure_timestamp_seconds",
    "gauge",
    "Unix time of the last failed run, by pipeline.",
    ("pipeline",),
)
PIPELINE_DURATION = MetricSpec(
    "pipeline_duration_seconds",
    "gauge",
    "Wall time of the last run, by pipeline.",
    ("pipeline",),
)
PIPELINE_RUNS = MetricSpec(
    "pipeline_runs_total",
    "counter",
    "Pipeline runs by outcome (success, failure).",
    ("pipeline", "status"),
)
DATA_LATEST_BAR = MetricSpec(
    "data_latest_bar_timestamp_seconds",
    "gauge",
    "Unix time of the latest stored bar, by instrument.",
    ("instrument",),
)
FEATURE_PSI = MetricSpec(
    "feature_psi", "gauge", "Population stability index against the reference.", ("feature",)
)
FEATURE_PSI_LIMIT = MetricSpec(
    "feature_psi_limit",
    "gauge",
    "PSI limit the hourly check applies to a feature (calibrated on the model's history).",
    ("feature", "level"),
)
FEATURE_KS = MetricSpec(
    "feature_ks_statistic",
    "gauge",
    "Two-sample Kolmogorov-Smirnov statistic against the reference.",
    ("feature",),
)
FEATURE_MISSING = MetricSpec(
    "feature_missing_rate", "gauge", "Share of missing values in the live window.", ("feature",)
)
FEATURE_HEALTH_STATUS = MetricSpec(
    "feature_health_status",
    "gauge",
    "Overall feature health: 0 ok, 1 warning, 2 critical.",
    (),
)

# Key figures of a pipeline run, pushed with its outcome (pipelines monitor mark).
DATA_ROWS_INGESTED = MetricSpec(
    "data_ingested_rows",
    "gauge",
    "Bars appended to the store by the last ingest (0 when the source had nothing new).",
    (),
)
DATA_ROWS_QUARANTINED = MetricSpec(
    "data_quarantined_rows",
    "gauge",
    "Rows the last run set aside, by stage (ingest: revised past bars; validate: rejected).",
    ("stage",),
)
DATA_HEALTH_PSI_MAX = MetricSpec(
    "data_health_psi_max",
    "gauge",
    "Largest feature PSI of the nightly data-health check against the previous run.",
    (),
)
TRAINING_CANDIDATE = MetricSpec(
    "training_candidate_info",
    "gauge",
    "Always 1; labels name the model version the last training run registered.",
    ("model_name", "model_version"),
)
TRAINING_GATE_PASSED = MetricSpec(
    "training_gate_passed",
    "gauge",
    "1 when the last training run's candidate passed the gates of a target environment, else 0.",
    ("target",),
)

# --- delivery (deploy workflow) ---------------------------------------------------------------
DEPLOYMENT_LAST_SUCCESS = MetricSpec(
    "model_deployment_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful deployment, by environment and model version.",
    ("environment", "model_version"),
)
DEPLOYMENT_LAST_FAILURE = MetricSpec(
    "model_deployment_last_failure_timestamp_seconds",
    "gauge",
    "Unix time of the last failed deployment, by environment and model version.",
    ("environment", "model_version"),
)
PROMOTION_TIMESTAMP = MetricSpec(
    "model_promotion_timestamp_seconds",
    "gauge",
    "Unix time a model version was promoted into an environment.",
    ("environment", "model_version"),
)
PERFORMANCE_REPORT = MetricSpec(
    "model_performance_report_timestamp_seconds",
    "gauge",
    "Unix time the weekly performance report was produced.",
    (),
)

# --- process (prometheus_client's ProcessCollector, registered in the service's registry) -------
# Appended by the operations work for the system dashboard's CPU and memory panels.
PROCESS_CPU = MetricSpec(
    "process_cpu_seconds_total",
    "counter",
    "Total user and system CPU time spent by the process, in seconds.",
    (),
)
PROCESS_MEMORY = MetricSpec(
    "process_resident_memory_bytes", "gauge", "Resident memory size of the process, in bytes.", ()
)

ALL: tuple[MetricSpec, ...] = tuple(
    v for v in list(globals().values()) if isinstance(v, MetricSpec)
)


def exported_series_names() -> set[str]:
    """Every series name a scrape can contain, including histogram and counter suffixes."""
    names: set[str] = set()
    for spec in ALL:
        names.add(spec.name)
        if spec.kind == "histogram":
            names.update({f"{spec.name}_bucket", f"{spec.name}_sum", f"{spec.name}_count"})
        if spec.kind == "counter":
            base = spec.name.removesuffix("_total")
            names.update({base, f"{base}_created"})
    return names
