"""Sub-commands for running the repository's workflows: ``doctor`` and ``publish``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pipelines.config import load_params
from pipelines.delivery.actions import set_outputs
from pipelines.errors import PipelineError


def _doctor(args: argparse.Namespace) -> int:
    from pipelines.delivery import doctor

    params = load_params(args.params)
    return doctor.main(Path.cwd(), params.training.model_name, lambda line: print(line))  # noqa: T201


def _publish(args: argparse.Namespace) -> int:
    from pipelines.delivery.publish import check_mode, default_branch, publish

    params = load_params(args.params).delivery
    mode = check_mode(
        args.mode if args.mode is not None else os.environ.get("DATA_COMMIT_MODE", "")
    )
    github = None
    if mode == "pr":
        from pipelines.delivery.github import GitHubClient

        token, repo = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
        if not token or not repo:
            raise PipelineError("--mode pr: GITHUB_TOKEN and GITHUB_REPOSITORY must be set")
        github = GitHubClient(repo, token, os.environ.get("GITHUB_API_URL", params.github_api_url))
    branch = args.branch or default_branch(args.branch_prefix, os.environ)
    result = publish(
        Path.cwd(),
        args.paths,
        args.message,
        mode,
        remote=params.remote,
        base=params.base_branch,
        branch=branch,
        github=github,
    )
    set_outputs(
        {
            "committed": "true" if result.commit else "false",
            "sha": result.commit or "",
            "mode": result.mode,
            "pull_request": str(result.pull_request or ""),
        }
    )
    if result.commit is None:
        sys.stdout.write("publish: nothing changed; nothing committed\n")
    elif result.pull_request is not None:
        where = f"{result.branch}, pull request #{result.pull_request}"
        sys.stdout.write(f"publish: {result.commit[:12]} on {where}\n")
    else:
        sys.stdout.write(f"publish: {result.commit[:12]} pushed to {params.base_branch}\n")
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``doctor`` and ``publish`` to the top-level parser."""
    doctor = commands.add_parser(
        "doctor",
        help="check that everything the workflows need is set up (run it first after forking)",
        description=(
            "One line per item: DVC remote, MLflow and the registered model, every secret and "
            "variable the workflows read, environments and their reviewers, each environment's "
            "AWS role. Exit 1 when anything is missing. Reads GITHUB_TOKEN (or GH_TOKEN), "
            "GITHUB_REPOSITORY (or the origin remote), GITHUB_API_URL, DVC_REMOTE_URL, "
            "MLFLOW_TRACKING_URI, AWS credentials and AWS_ENDPOINT_URL from the environment."
        ),
    )
    doctor.set_defaults(handler=_doctor)

    publish = commands.add_parser(
        "publish",
        help="commit a scheduled run's dvc.lock and small outputs as the bot: push or pull request",
    )
    publish.add_argument("paths", nargs="+", help="files or folders to commit (missing: skipped)")
    publish.add_argument("--message", required=True, help="commit message (first line: PR title)")
    publish.add_argument(
        "--mode",
        choices=("push", "pr"),
        default=None,
        help="push to the base branch or open a pull request (default: $DATA_COMMIT_MODE or push)",
    )
    publish.add_argument("--branch", help="pull request branch (default: PREFIX/<time>-<run id>)")
    publish.add_argument(
        "--branch-prefix",
        default="publish",
        help="prefix of the default branch (default: %(default)s)",
    )
    publish.set_defaults(handler=_publish)
