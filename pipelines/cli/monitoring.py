"""Sub-commands of the monitoring area: ``pipelines monitor drift|health|mark|dashboards``.

``drift`` and ``health`` exit 0 when every feature is ok, 10 on a warning and 20 on a critical
finding; 2 is kept for errors (bad input, missing file), as for every command.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from pipelines.config import load_params
from pipelines.errors import ConfigError

_STATUS_EPILOG = "exit status: 0 ok, 10 warning, 20 critical, 2 error (bad input)"


def _drift(args: argparse.Namespace) -> int:
    from pipelines.monitoring import report

    return report.main(
        load_params(args.params),
        reference_path=args.reference,
        current_path=args.current,
        out=args.out,
        binning=args.binning,
        metrics=args.metrics,
    )


def _health(args: argparse.Namespace) -> int:
    from pipelines.monitoring import health

    return health.main(
        load_params(args.params),
        reference=args.reference,
        bundle=args.bundle,
        manifest=args.manifest,
        features_path=args.features,
        labels_path=args.labels,
    )


def _drift_inputs(args: argparse.Namespace) -> int:
    from pipelines.monitoring import drift_inputs

    return drift_inputs.main(load_params(args.params), args.manifest, args.out, args.features)


def _weekly(args: argparse.Namespace) -> int:
    from pipelines.monitoring import weekly

    return weekly.main(
        load_params(args.params), args.out, args.env, args.days, url=args.prometheus_url
    )


def _mark(args: argparse.Namespace) -> int:
    from pipelines.monitoring import mark

    return mark.main(
        load_params(args.params),
        args.pipeline,
        args.status,
        args.duration,
        started_at=args.started_at,
        environment=args.environment,
    )


def _event(args: argparse.Namespace) -> int:
    from pipelines.monitoring.events import mark_event

    params = load_params(args.params)
    seconds = 0.0
    if args.kind == "rollback":
        from pipelines.monitoring.mark import duration_since

        took = (
            args.duration
            if args.duration is not None
            else duration_since(args.started_at, time.time())
        )
        if took is None:
            raise ConfigError("--kind rollback: --duration or --started-at is required")
        seconds = took
    mark_event(
        params.monitoring.textfile_dir,
        args.kind,
        args.env or "",
        args.model_version or "",
        args.status == "success",
        seconds=seconds,
    )
    return 0


def _dashboards(args: argparse.Namespace) -> int:
    from pipelines.monitoring import dashboards

    return dashboards.main(args.out, check=args.check)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``pipelines monitor ...`` to the top-level parser."""
    monitor = commands.add_parser("monitor", help="drift, feature health and pipeline metrics")
    sub = monitor.add_subparsers(dest="monitor_command", metavar="ACTION", required=True)

    drift = sub.add_parser(
        "drift",
        help="PSI, KS and missing rate of every feature: current table against a reference",
        epilog=_STATUS_EPILOG,
    )
    drift.add_argument("--reference", required=True, help="reference features (Parquet or CSV)")
    drift.add_argument("--current", required=True, help="current features (Parquet or CSV)")
    drift.add_argument("--out", default=None, help="JSON report (default: monitoring.drift_report)")
    drift.add_argument(
        "--metrics", default=None, help="textfile metrics (default: the report's name, .prom)"
    )
    drift.add_argument(
        "--binning",
        choices=("quantile", "evidently"),
        default=None,
        help="PSI binning (default: monitoring.binning)",
    )
    drift.set_defaults(handler=_drift)

    health = sub.add_parser(
        "health",
        help="hourly: latest window of live features against the deployed model's reference",
        epilog=_STATUS_EPILOG,
    )
    source = health.add_mutually_exclusive_group()
    source.add_argument("--manifest", default=None, help="manifest (default: monitoring.manifest)")
    source.add_argument("--bundle", default=None, help="a model bundle file with a reference")
    health.add_argument(
        "--reference",
        default=None,
        help="an explicit reference table instead of the bundle's (alone: no model checks)",
    )
    health.add_argument("--features", default=None, help="feature store (default: paths.features)")
    health.add_argument("--labels", default=None, help="labels table (default: paths.labels)")
    health.set_defaults(handler=_health)

    inputs = sub.add_parser(
        "drift-inputs",
        help="write the deployed model's reference and the live window as Parquet (for drift)",
    )
    inputs.add_argument("--manifest", default=None, help="manifest (default: monitoring.manifest)")
    inputs.add_argument(
        "--out", required=True, help="folder for reference.parquet, current.parquet"
    )
    inputs.add_argument("--features", default=None, help="feature store (default: paths.features)")
    inputs.set_defaults(handler=_drift_inputs)

    week = sub.add_parser(
        "weekly-report",
        help="weekly performance report from Prometheus: Markdown, plots, job summary",
    )
    week.add_argument("--out", default="reports/weekly", help="folder (default: %(default)s)")
    week.add_argument("--env", default="prod", help="environment (namespace trading-ENV)")
    week.add_argument("--days", type=float, default=7.0, help="period in days (default: 7)")
    week.add_argument(
        "--prometheus-url", default=None, help="Prometheus (default: $PROMETHEUS_URL)"
    )
    week.set_defaults(handler=_weekly)

    mark = sub.add_parser(
        "mark",
        help="record a pipeline run's outcome, duration and key figures "
        "(Pushgateway when PUSHGATEWAY_URL is set, else textfile metrics)",
    )
    mark.add_argument("--pipeline", required=True, help="data, training, feature_health, ...")
    mark.add_argument("--status", required=True, choices=("success", "failure"))
    timing = mark.add_mutually_exclusive_group()
    timing.add_argument("--duration", type=float, default=None, help="wall time in seconds")
    timing.add_argument(
        "--started-at",
        type=float,
        default=None,
        help="Unix time the run started (duration = now - it)",
    )
    mark.add_argument(
        "--environment",
        default=None,
        help="grouping label on the Pushgateway (default: $PIPELINES_ENVIRONMENT or 'local')",
    )
    mark.set_defaults(handler=_mark)

    event = sub.add_parser(
        "event",
        help="record a deployment, promotion, rollback or weekly report "
        "(Pushgateway when PUSHGATEWAY_URL is set, else textfile metrics)",
    )
    event.add_argument(
        "--kind", required=True, choices=("deployment", "promotion", "report", "rollback")
    )
    event.add_argument("--env", default=None, help="environment (deployment, promotion)")
    event.add_argument(
        "--model-version", default=None, help="model version (deployment, promotion)"
    )
    event.add_argument("--status", choices=("success", "failure"), default="success")
    took = event.add_mutually_exclusive_group()
    took.add_argument("--duration", type=float, default=None, help="rollback: seconds it took")
    took.add_argument(
        "--started-at", type=float, default=None, help="rollback: Unix time it was triggered"
    )
    event.set_defaults(handler=_event)

    dash = sub.add_parser("dashboards", help="write the Grafana dashboards JSON from code")
    dash.add_argument("--out", default="monitoring/grafana", help="folder (default: %(default)s)")
    dash.add_argument(
        "--check", action="store_true", help="fail if the files differ from the generated ones"
    )
    dash.set_defaults(handler=_dashboards)
