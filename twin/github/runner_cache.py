"""The runner image's uv cache, warm for the interpreter the jobs' ``make setup`` finds.

The runner installs offline (``UV_OFFLINE=1``, ``twin.repo_settings.runner_env``) from this
machine's uv cache, which the machine's own ``make setup`` filled for the machine's Python. A
job's ``uv venv --python python3.11`` skips the per-job virtual environment that setup-python
puts on PATH and takes the first base interpreter on the runner's PATH instead (Debian's
``/usr/bin/python3.11`` here), which may be another patch release. A lock entry whose marker
depends on it (``soupsieve==2.10 ; python_full_version < '3.11.5'`` in the checkov lock) is
then missing from the cache on a fresh machine, and the job fails offline, naming it. When the
twin starts, :func:`warm` asks uv (a dry run, offline) what each lock the jobs sync would
download for that interpreter, and installs a lock that needs anything into a throwaway folder
from the index, as a runner image is built.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from twin.errors import TwinError
from twin.github.contexts import BASE_PATH

log = logging.getLogger(__name__)

# What the jobs' `make setup` and `make tools` (train.yml's `make pytest`) sync.
LOCKS = (
    "requirements/dev.txt",
    "requirements/side/checkov.txt",
    "requirements/side/evidently.txt",
    "requirements/side/terraform.txt",
)


def job_python(path: str = BASE_PATH) -> str | None:
    """The interpreter a job's ``uv venv --python python3.11`` takes: the first on the PATH."""
    return shutil.which("python3.11", path=path)


def warm(
    source: Path, uv: str, env: Mapping[str, str], scratch: Path, python: str | None = None
) -> int:
    """Make the cache in ``env`` (``UV_CACHE_DIR``) hold every lock for the jobs' interpreter.

    The throwaway installs go under ``scratch`` (on the cache's filesystem, uv links instead
    of copying).

    Returns:
        How many locks needed the index.

    Raises:
        TwinError: A lock cannot be installed online either (the index's answer, shortened).
    """
    python = python or job_python()
    if python is None:
        return 0
    base = {k: v for k, v in {**os.environ, **env}.items() if k != "UV_OFFLINE"}
    online = 0
    for lock in LOCKS:
        with tempfile.TemporaryDirectory(prefix="runner-cache-", dir=scratch) as target:
            argv = [uv, "pip", "install", "--no-deps", "--python", python, "--target", target]
            argv += ["-r", str(source / lock)]
            # A dry run offline says what it would download (0.1 s when nothing is missing).
            probe = subprocess.run(  # noqa: S603 - the lock's uv, fixed arguments
                [*argv, "--dry-run", "--offline"],
                env=base,
                capture_output=True,
                text=True,
                check=False,
            )
            if probe.returncode == 0 and "Would download" not in probe.stdout + probe.stderr:
                continue
            online += 1
            log.info("runner cache: %s for %s from the index", lock, python)
            done = subprocess.run(  # noqa: S603 - the lock's uv, fixed arguments
                [*argv, "--quiet"], env=base, capture_output=True, text=True, check=False
            )
        if done.returncode != 0:
            raise TwinError(f"runner cache: {lock} for {python}: {done.stderr.strip()[-300:]}")
    return online
