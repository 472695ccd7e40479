"""``pipelines recover ...``: the disaster-recovery steps of docs/runbooks/disaster-recovery.md."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError


def _database_url(args: argparse.Namespace) -> str | None:
    return str(args.database_url) if args.database_url else os.environ.get("MLFLOW_DATABASE_URL")


def _backup(args: argparse.Namespace) -> int:
    from pipelines.infra.recovery import backup_database

    url = backup_database(args.to, _database_url(args))
    sys.stdout.write(f"backup: {url}\n")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from pipelines.infra.recovery import restore_database

    url = restore_database(args.source, _database_url(args))
    sys.stdout.write(f"restored: {url}\n")
    return 0


def _undelete(args: argparse.Namespace) -> int:
    from pipelines.infra.recovery import undelete

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise PipelineError(f"--since {args.since}: expected an ISO time with offset") from None
        if since.tzinfo is None:
            raise PipelineError(f"--since {args.since}: give the offset, e.g. +00:00")
    keys = undelete(args.url, since)
    sys.stdout.write(f"undeleted {len(keys)} object(s) under {args.url}\n")
    return 0


def _check_registry(args: argparse.Namespace) -> int:
    from pipelines.infra.recovery import registry_problems

    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise PipelineError("check-registry: give --tracking-uri or set MLFLOW_TRACKING_URI")
    problems = registry_problems([Path(m) for m in args.manifest], uri)
    for line in problems:
        sys.stdout.write(f"{line}\n")
    if problems:
        return 1
    sys.stdout.write(f"registry: {len(args.manifest)} manifest(s) agree with {uri}\n")
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``recover`` and its steps."""
    recover = commands.add_parser(
        "recover", help="disaster recovery: MLflow database backups, S3 undelete, registry check"
    )
    steps = recover.add_subparsers(dest="recover_command", metavar="STEP", required=True)
    database_help = "postgresql://... (default: $MLFLOW_DATABASE_URL, else libpq's PG* variables)"

    backup = steps.add_parser("backup-db", help="pg_dump the MLflow database to S3")
    backup.add_argument("--to", required=True, help="s3://bucket/prefix/ for the dump")
    backup.add_argument("--database-url", help=database_help)
    backup.set_defaults(handler=_backup)

    restore = steps.add_parser(
        "restore-db", help="restore the newest dump under a prefix (or the named dump)"
    )
    restore.add_argument("--from", dest="source", required=True, help="s3://bucket/prefix/")
    restore.add_argument("--database-url", help=database_help)
    restore.set_defaults(handler=_restore)

    remove_markers = steps.add_parser(
        "undelete", help="bring back objects deleted from a versioned bucket (delete markers)"
    )
    remove_markers.add_argument("--url", required=True, help="s3://bucket/prefix")
    remove_markers.add_argument("--since", help="only deletions after this ISO time")
    remove_markers.set_defaults(handler=_undelete)

    check = steps.add_parser(
        "check-registry", help="every manifest's model version is known to MLflow with its digest"
    )
    check.add_argument("manifest", nargs="+", help="environments/<env>/model.yaml")
    check.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI")
    check.set_defaults(handler=_check_registry)
