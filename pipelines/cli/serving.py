"""Sub-commands of the serving area: ``pipelines serve``, ``analyze`` and ``rehearse``."""

from __future__ import annotations

import argparse
from typing import Any

from pipelines.config import load_params
from pipelines.errors import ConfigError

_THRESHOLD_FLAGS = (
    ("error_rate_max", float),
    ("latency_p99_max_seconds", float),
    ("circuit_breaker_trips_per_hour_max", float),
    ("sharpe_drop_max", float),
    ("win_rate_drop_max", float),
    ("pnl_drop_max", float),
    ("min_trades", int),
)


def _serve(args: argparse.Namespace) -> int:
    from pipelines.serving import serve

    return serve.main(
        load_params(args.params),
        args.manifest,
        args.settings,
        args.host,
        args.port,
        args.cache_dir,
        args.metrics_port,
    )


def _thresholds(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from pipelines.delivery.analysis import Thresholds, thresholds_from_settings
    from pipelines.serving.source import read_settings

    overrides = {k: getattr(args, k) for k, _ in _THRESHOLD_FLAGS if getattr(args, k) is not None}
    if args.window is not None:
        overrides["window"] = args.window
    if args.settings:
        base = thresholds_from_settings(read_settings(args.settings), args.settings)
        return replace(base, **overrides)
    missing = [k for k, _ in _THRESHOLD_FLAGS if k not in overrides] + (
        [] if "window" in overrides else ["window"]
    )
    if missing:
        flags = ", ".join("--" + k.replace("_", "-") for k in missing)
        raise ConfigError(f"analyze: give --settings or every threshold flag (missing {flags})")
    return Thresholds(**overrides)


def _sides(args: argparse.Namespace) -> tuple[Any, Any]:
    """Canary and stable selectors: pod-template hashes (default) or model versions."""
    from pipelines.delivery.analysis_prom import Side

    hashes = (args.canary_hash, args.stable_hash)
    versions = (args.canary_version, args.stable_version)
    if any(v is not None for v in versions):
        if any(h is not None for h in hashes) or None in versions:
            raise ConfigError(
                "analyze: give --canary-hash and --stable-hash, or --canary-version and "
                "--stable-version (not a mix)"
            )
        return Side("model_version", versions[0]), Side("model_version", versions[1])
    if None in hashes:
        raise ConfigError("analyze: give --canary-hash and --stable-hash (pod-template hashes)")
    return Side(args.label, hashes[0]), Side(args.label, hashes[1])


def _analyze(args: argparse.Namespace) -> int:
    from pipelines.delivery import analysis_prom

    canary, stable = _sides(args)
    return analysis_prom.main(
        args.prometheus_url,
        canary,
        stable,
        args.instruments,
        _thresholds(args),
        args.report,
        kpis=not args.service_only,
        traffic=(args.canary_traffic, args.stable_traffic),
        resolution=args.resolution,
    )


def _rehearse(args: argparse.Namespace) -> int:
    from pipelines.delivery import rehearse

    return rehearse.main(
        load_params(args.params),
        env=args.env,
        candidate=args.candidate,
        stable=args.stable,
        report=args.report,
        environments=args.environments,
        start=args.start,
    )


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``serve``, ``analyze`` and ``rehearse`` to the top-level parser."""
    serve = commands.add_parser(
        "serve", help="run the strategy service for the model a manifest names"
    )
    serve.add_argument("--manifest", required=True, help="environments/<env>/model.yaml")
    serve.add_argument(
        "--settings", default=None, help="environments/<env>/settings.yaml (default: beside it)"
    )
    serve.add_argument("--host", default=None, help="listen address (default: serving.host)")
    serve.add_argument("--port", type=int, default=None, help="port (default: serving.port)")
    serve.add_argument(
        "--cache-dir",
        default=None,
        help="bundle download folder (default: serving.model_cache_dir); a volume in a pod",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="port of /metrics, served there only (default: serving.metrics_port)",
    )
    serve.set_defaults(handler=_serve)

    analyze = commands.add_parser(
        "analyze",
        help="canary service level, and canary (shadow) vs stable (live) trading KPIs paired on "
        "the same instruments and bars, from Prometheus; exit 0 pass, 1 fail, 3 inconclusive",
    )
    analyze.add_argument("--prometheus-url", required=True, help="e.g. http://prometheus:9090")
    analyze.add_argument(
        "--canary-hash", default=None, help="canary ReplicaSet's pod-template hash"
    )
    analyze.add_argument(
        "--stable-hash", default=None, help="stable ReplicaSet's pod-template hash"
    )
    analyze.add_argument(
        "--label",
        default="rollouts_pod_template_hash",
        help="label holding the hashes (default: %(default)s)",
    )
    analyze.add_argument(
        "--canary-version", default=None, help="instead of hashes: canary model_version label"
    )
    analyze.add_argument(
        "--stable-version", default=None, help="instead of hashes: stable model_version label"
    )
    analyze.add_argument(
        "--instruments",
        default=".*",
        help="regex of the paired instruments: those mirrored to the canary, not yet routed",
    )
    analyze.add_argument(
        "--service-only",
        action="store_true",
        help="service level only (every instrument routed: nothing left to pair)",
    )
    analyze.add_argument(
        "--canary-traffic", default="shadow", help="traffic label of the canary's KPI series"
    )
    analyze.add_argument(
        "--resolution",
        default="15s",
        help="subquery step counting the stable's bars from the canary's first (scrape interval)",
    )
    analyze.add_argument(
        "--stable-traffic", default="live", help="traffic label of the stable's KPI series"
    )
    analyze.add_argument(
        "--settings", default=None, help="environments/<env>/settings.yaml (thresholds)"
    )
    analyze.add_argument(
        "--window", default=None, help="PromQL range, e.g. 30m (default: settings schedule.step)"
    )
    for key, kind in _THRESHOLD_FLAGS:
        analyze.add_argument("--" + key.replace("_", "-"), dest=key, type=kind, default=None)
    analyze.add_argument("--report", default=None, help="also write the Markdown summary here")
    analyze.set_defaults(handler=_analyze)

    rehearse = commands.add_parser(
        "rehearse",
        help="replay a held-out period through stable and candidate along the env's canary steps",
    )
    rehearse.add_argument("--env", required=True, help="dev, staging or prod")
    rehearse.add_argument(
        "--candidate", required=True, help="candidate bundle (.json) or manifest (.yaml)"
    )
    rehearse.add_argument(
        "--stable", default=None, help="stable bundle or manifest (default: the env's manifest)"
    )
    rehearse.add_argument("--report", default=None, help="Markdown report (default: params)")
    rehearse.add_argument(
        "--environments", default="environments", help="folder of the env overlays"
    )
    rehearse.add_argument(
        "--start",
        default=None,
        help="first replayed day (default: the first bar after the candidate's training end; "
        "a day inside the training span is refused)",
    )
    rehearse.set_defaults(handler=_rehearse)
