"""Sub-commands of the data area: ``pipelines data ingest|validate|features|health``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipelines.cli import restore
from pipelines.config import load_params


def _ingest(args: argparse.Namespace) -> int:
    from pipelines.data import ingest

    return ingest.main(load_params(args.params), add_instruments=args.add_instruments)


def _validate(args: argparse.Namespace) -> int:
    from pipelines.data import validate

    return validate.main(load_params(args.params), input_path=args.input)


def _features(args: argparse.Namespace) -> int:
    from pipelines.data import store

    return store.main(load_params(args.params), Path(args.params), partition=args.partition)


def _partitions(args: argparse.Namespace) -> int:
    from pipelines.data import partitions

    count = load_params(args.params).scale.data_partitions
    sys.stdout.write(json.dumps(partitions.all_of(count)) + "\n")
    return 0


def _health(args: argparse.Namespace) -> int:
    from pipelines.data import health

    return health.main(load_params(args.params))


def _freshness(args: argparse.Namespace) -> int:
    from pipelines.data import freshness

    as_of = None if args.as_of == "null" else args.as_of
    return freshness.main(load_params(args.params), as_of=as_of)


def _rollback(args: argparse.Namespace) -> int:
    from pipelines.cli.restore import command

    return command(args)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``pipelines data ...`` to the top-level parser."""
    data = commands.add_parser("data", help="nightly data pipeline stages")
    stages = data.add_subparsers(dest="data_command", metavar="STAGE", required=True)

    ingest = stages.add_parser(
        "ingest", help="fetch new bars from the configured source, archive raw input, append"
    )
    ingest.add_argument(
        "--add-instruments",
        action="store_true",
        help="let this source add its instruments to a workspace whose bars came from another "
        "source (refused otherwise: datasets are not mixed by accident)",
    )
    ingest.set_defaults(handler=_ingest)

    validate = stages.add_parser(
        "validate", help="check schema, quality, completeness and anomalies; quarantine bad rows"
    )
    validate.add_argument(
        "--input",
        default=None,
        help="bars to validate: long-format Parquet, or a CSV (long or wide, gzip or not) "
        "(default: paths.ingested in params)",
    )
    validate.set_defaults(handler=_validate)

    features = stages.add_parser(
        "features", help="compute leak-free features and labels into the feature store"
    )
    features.add_argument(
        "--partition",
        default=None,
        metavar="K/N",
        help="compute instrument partition K of N only, kept in paths.feature_parts (one pod of "
        "the cluster's fan-out); without it: every stale partition (scale.data_workers "
        "processes), then the merge into the store",
    )
    features.set_defaults(handler=_features)

    listing = stages.add_parser(
        "partitions",
        help="print the features stage's partitions as a JSON list of K/N (Argo's withParam)",
    )
    listing.set_defaults(handler=_partitions)

    health = stages.add_parser(
        "health",
        help="freshness, completeness and feature PSI against the previous run "
        "(exit status 1 on a critical finding)",
    )
    health.set_defaults(handler=_health)

    freshness = stages.add_parser(
        "freshness",
        help="how many bars each instrument is behind, counted in its own calendar's sessions "
        "(the scheduled runs' check; exit status 1 when staler than health.max_staleness_bars)",
    )
    freshness.add_argument(
        "--as-of",
        default="now",
        help="'now' (default: the clock), an ISO timestamp, or 'null' for the latest bar's close",
    )
    freshness.set_defaults(handler=_freshness)

    rollback = stages.add_parser(
        "rollback",
        help="restore the data stages' outputs of a git revision (or date), all or nothing, "
        "re-validated with its params; the raw archive is kept (same as `pipelines restore-data`)",
    )
    restore.add_arguments(rollback)
    rollback.set_defaults(handler=_rollback)
