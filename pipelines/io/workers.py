"""Worker processes of the project's own command line, for stages that fan work out locally.

The features stage (its partitions), the train stage (its CV splits) and the tune stage (its
shared study) start ``pipelines`` sub-commands, the same ones the cluster's templates run as
pods, with the params file the stage itself was given.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def pipelines_argv(params_path: str | Path, *argv: str) -> list[str]:
    """``python -m pipelines --params PARAMS ARGV`` with this interpreter."""
    return [sys.executable, "-m", "pipelines", "--params", str(params_path), *argv]


def run_all(commands: list[list[str]], workers: int) -> list[int]:
    """Run every command, at most ``workers`` at once; their exit statuses, in order."""

    def run(command: list[str]) -> int:
        return subprocess.run(command, check=False).returncode  # noqa: S603 - our own argv

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, commands))
