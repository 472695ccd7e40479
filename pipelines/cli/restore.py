"""``pipelines data rollback`` and ``pipelines restore-data``: one handler, two names."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.config import load_params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The restore options, the same under both names."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--to", metavar="REV", help="git revision whose data to restore")
    which.add_argument(
        "--date",
        help="restore the newest commit of the current branch at or before this date or time "
        "(YYYY-MM-DD: end of that day, UTC; or ISO-8601 such as 2024-03-01T18:00Z)",
    )
    parser.add_argument(
        "--stage",
        help="restore this stage's outputs and its upstream stages' (default: "
        "delivery.restore_stage, the data pipeline's last stage)",
    )
    parser.add_argument(
        "--no-validate",
        action="store_true",
        help="skip re-validating the restored bars with the revision's params.yaml",
    )


def command(args: argparse.Namespace) -> int:
    """Restore, then say what changed, what was kept and what to do next."""
    from pipelines.delivery.restore_data import restore

    params = load_params(args.params)
    delivery = params.delivery
    done = restore(
        Path.cwd(),
        args.to,
        date=args.date,
        stage=args.stage or delivery.restore_stage,
        keep=[params.paths.raw_archive],
        validate=None if args.no_validate else delivery.validate_command,
        ingested=params.paths.ingested,
    )
    out = sys.stdout
    checked = "not re-validated" if args.no_validate else "re-validated with its params.yaml"
    out.write(
        f"restored data of {done.commit[:12]} ({done.when}), {checked}: "
        f"{len(done.changes)} output(s) changed\n"
    )
    for change in done.changes:
        out.write(f"  {change.describe()}\n")
    for path in done.kept:
        out.write(f"  {path}: kept as it is (raw archive: append-only, never replaced)\n")
    if done.changes:
        out.write(
            f'next: git add dvc.lock && git commit -m "Restore data of {done.commit[:12]}", '
            "then resume the schedules (docs/runbooks/data-pipeline-issues.md)\n"
        )
    return 0
