"""``pipelines doctor`` against the twin: every setting, secret, environment and role is there.

The same command a team runs after forking (it exits 1 and lists what is missing on a bare
fork) runs in a fresh clone of the twin's origin, with the person's token and the twin's
endpoints, and must exit 0.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twin.buckets import bucket_names
from twin.errors import TwinError
from twin.github.config import REPOSITORY
from twin.week.context import Week


def doctor(week: Week) -> str:
    """Run ``pipelines doctor`` in a clone of the origin against the twin; expect exit 0."""
    clone = week.home / "clones" / "doctor"
    if not clone.exists():
        subprocess.run(  # noqa: S603
            ["git", "clone", "-q", str(week.origin), str(clone)],  # noqa: S607
            check=True,
            capture_output=True,
        )
    env = {
        **os.environ,
        **week.env,
        "GITHUB_TOKEN": week.gh.token,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": week.gh.url + "/api/v3",
        "DVC_REMOTE_URL": f"s3://{bucket_names(week.root).dvc}/cache",
    }
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pipelines", "doctor"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0:
        missing = [line for line in lines if "missing" in line.lower() or "fail" in line.lower()]
        shown = " | ".join((missing or lines)[:4]) or proc.stderr.strip()[-300:]
        raise TwinError(f"pipelines doctor exited {proc.returncode}: {shown}")
    return f"pipelines doctor: exit 0, {len(lines)} items checked"
