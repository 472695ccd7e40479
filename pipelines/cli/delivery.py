"""Sub-commands of the delivery area: promote, rollback, restore-data, lint."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipelines.cli import restore
from pipelines.config import load_params
from pipelines.delivery.actions import set_outputs
from pipelines.errors import PipelineError

log = logging.getLogger(__name__)


def _root() -> Path:
    return Path.cwd()


def _actor() -> str:
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return actor
    proc = subprocess.run(
        ["git", "config", "user.name"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "unknown"


def _github(args: argparse.Namespace, api_url: str) -> Any:
    from pipelines.delivery.github import GitHubClient

    if not args.open_pr:
        return None
    token, repo = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if not token or not repo:
        raise PipelineError("--open-pr: GITHUB_TOKEN and GITHUB_REPOSITORY must be set")
    return GitHubClient(repo, token, os.environ.get("GITHUB_API_URL", api_url))


def tracking_uri(params: Any) -> str:
    """The registry: ``MLFLOW_TRACKING_URI``, else ``delivery.mlflow_tracking_uri``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or str(params.mlflow_tracking_uri)


def _promote(args: argparse.Namespace) -> int:
    from pipelines.delivery.digests import MlflowRegistry
    from pipelines.delivery.promote import promote

    params = load_params(args.params).delivery
    first = params.environments[0] if params.environments else args.to
    result = promote(
        _root(),
        params,
        args.to,
        by=args.by or _actor(),
        reason=args.reason,
        candidate_path=Path(args.candidate) if args.candidate else None,
        evidence=Path(args.evidence) if args.evidence else None,
        base=args.base,
        push=args.push,
        github=_github(args, params.github_api_url),
        registry=None if args.to == first else MlflowRegistry(tracking_uri(params)),
    )
    set_outputs({"status": result.status, "model_version": result.version})
    pr = f", pull request #{result.pull_request}" if result.pull_request else ""
    sys.stdout.write(f"{result.environment}: {result.status} on {result.branch}{pr}\n")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from pipelines.delivery.digests import MlflowRegistry
    from pipelines.delivery.rollback import rollback

    params = load_params(args.params).delivery
    # The automatic path (repository_dispatch from a failed deploy) commits directly.
    direct = args.direct or args.from_event == "repository_dispatch"
    result = rollback(
        _root(),
        params,
        args.env,
        registry=MlflowRegistry(tracking_uri(params)),
        to_version=args.to_version or None,
        reason=args.reason or "rollback",
        direct=direct,
        push=args.push,
        expected_sha256=args.only_if_sha256 or None,
    )
    client = _github(args, params.github_api_url)
    if client is not None and result.branch:
        shown = result.version or "nothing deployed"
        title = f"Rollback {args.env} to {shown}"
        body = f"Reverts {', '.join(c[:12] for c in result.reverted)}.\n\nReason: {args.reason}\n"
        client.open_pull(result.branch, params.base_branch, title, body)
    if not result.reverted:
        sys.stdout.write(f"{args.env}: already at {args.to_version}; nothing to revert\n")
        return 0
    where = f"branch {result.branch}" if result.branch else "the current branch"
    sys.stdout.write(
        f"{args.env}: reverted {len(result.reverted)} manifest commit(s) on {where}; "
        f"now {result.version or 'nothing deployed'}\n"
    )
    return 0


def _lint(args: argparse.Namespace) -> int:
    from pipelines.delivery.lint.runner import run_lint

    findings = run_lint(_root(), shared=Path(args.shared) if args.shared else None)
    for finding in findings:
        sys.stdout.write(f"{finding}\n")
    if findings:
        sys.stderr.write(f"error: lint found {len(findings)} problem(s)\n")
        return 1
    sys.stdout.write("lint: ok\n")
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add promote, rollback, restore-data and lint to the top-level parser."""
    promote = commands.add_parser(
        "promote", help="open a pull request that deploys the gated candidate to ENV"
    )
    promote.add_argument("--to", required=True, metavar="ENV", help="dev, staging or prod")
    promote.add_argument(
        "--candidate", help="candidate.json, relative to --evidence (default: delivery.candidate)"
    )
    promote.add_argument(
        "--evidence",
        help="folder holding models/candidate.json, reports/gates/ and the card, laid out as in "
        "the repository (default: the repository)",
    )
    promote.add_argument("--base", help="base branch (default: delivery.base_branch)")
    promote.add_argument("--by", help="who promotes (default: GITHUB_ACTOR or git user.name)")
    promote.add_argument("--reason", help="promotion reason recorded in the manifest")
    promote.add_argument("--push", action="store_true", help="push the branch to the remote")
    promote.add_argument(
        "--open-pr", action="store_true", help="open/update the pull request through GitHub"
    )
    promote.set_defaults(handler=_promote)

    rollback = commands.add_parser(
        "rollback", help="git-revert ENV's manifest change(s) back to a version"
    )
    rollback.add_argument("--env", required=True)
    rollback.add_argument("--to-version", help="version to return to (default: the previous one)")
    rollback.add_argument("--reason", default="rollback", help="recorded in the commit message")
    rollback.add_argument(
        "--direct", action="store_true", help="commit on the current branch (automatic path)"
    )
    rollback.add_argument("--push", action="store_true", help="push the result to the remote")
    rollback.add_argument(
        "--from-event", default="", help="GitHub event name; repository_dispatch implies --direct"
    )
    rollback.add_argument(
        "--open-pr", action="store_true", help="open the rollback pull request (branch mode)"
    )
    rollback.add_argument(
        "--only-if-sha256",
        default="",
        help="refuse unless ENV's manifest still deploys this bundle digest (automatic path)",
    )
    rollback.set_defaults(handler=_rollback)

    restore_data = commands.add_parser(
        "restore-data", help="restore the data of a git revision or date, all or nothing"
    )
    restore.add_arguments(restore_data)
    restore_data.set_defaults(handler=restore.command)

    lint = commands.add_parser(
        "lint", help="kustomize every overlay, validate Argo objects, audit GitHub workflows"
    )
    lint.add_argument(
        "--shared", help="folder holding schemas/ (default: $PIPELINES_SHARED or ../shared)"
    )
    lint.set_defaults(handler=_lint)
