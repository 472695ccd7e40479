"""The ``github`` context and the runner image: what a job's processes see.

The runner image (like a self-hosted runner's) is documented here and nothing else leaks in
from the environment of whoever started the twin:

- ``PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`` (plus what
  ``GITHUB_PATH`` and the setup actions add), ``LANG=C.UTF-8``, ``TZ=UTC``, ``USER``;
- ``HOME``: a fresh folder per job (``git config --global`` stays inside the job), with the
  machine's package-index configuration copied in (``~/.config/pip/pip.conf``,
  ``~/.pip/pip.conf``, ``~/.config/uv/uv.toml``) as a runner image would bake it;
- the index variables of the machine when set (``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``,
  ``PIP_FIND_LINKS``, ``PIP_CERT``, ``PIP_DEFAULT_TIMEOUT``, ``PIP_DISABLE_PIP_VERSION_CHECK``,
  ``UV_INDEX_URL``, ``UV_EXTRA_INDEX_URL``, ``UV_FIND_LINKS``, ``SSL_CERT_FILE``);
- ``PIP_CACHE_DIR``, ``UV_CACHE_DIR`` and ``MPLCONFIGDIR`` (matplotlib's font cache, 2-4 s to
  build) in ``<twin>/github/cache/`` (kept warm across jobs, as a self-hosted runner's cache
  volume is);
- ``DO_NOT_TRACK=true``, ``MLFLOW_DISABLE_TELEMETRY=true``, ``DVC_NO_ANALYTICS=1``;
- the twin config's ``runner.env`` (overrides the above, e.g. another ``UV_CACHE_DIR``);
- and the variables every Actions runner sets: ``CI=true``, ``GITHUB_*``, ``RUNNER_*``.
"""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path
from typing import Any

from twin.github.config import OWNER, REPOSITORY
from twin.github.records import RunRecord
from twin.github.triggers import Event

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INDEX_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CERT",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "SSL_CERT_FILE",
)
INDEX_FILES = (".config/pip/pip.conf", ".pip/pip.conf", ".config/uv/uv.toml")
NO_TELEMETRY = {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1"}


def image_env(home: Path, cache: Path, extra: dict[str, Any]) -> dict[str, str]:
    """The runner image's environment for a job whose HOME is ``home`` (created here).

    ``cache`` holds the runner's persistent caches (``PIP_CACHE_DIR``, ``UV_CACHE_DIR``,
    ``MPLCONFIGDIR``), shared by every job like a self-hosted runner's cache volume.
    """
    home.mkdir(parents=True, exist_ok=True)
    machine_home = Path(os.environ.get("HOME") or Path.home())
    for relative in INDEX_FILES:
        source = machine_home / relative
        if source.is_file():
            (home / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, home / relative)
    env = {
        "PATH": BASE_PATH,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "USER": getpass.getuser(),
        "PIP_CACHE_DIR": str(cache / "pip"),
        "UV_CACHE_DIR": str(cache / "uv"),
        "MPLCONFIGDIR": str(cache / "matplotlib"),
        **NO_TELEMETRY,
    }
    env.update({k: os.environ[k] for k in INDEX_VARIABLES if os.environ.get(k)})
    env.update({str(k): str(v) for k, v in extra.items()})
    return env


def github_context(
    *,
    run: RunRecord,
    event: Event,
    workflow_name: str,
    server_url: str,
    api_url: str,
    protected: bool,
) -> dict[str, Any]:
    """The run-level ``github`` context (a job adds ``job``, ``token``, ``workspace``...)."""
    ref_type = "tag" if event.ref.startswith("refs/tags/") else "branch"
    return {
        "action": "",
        "action_path": "",
        "action_ref": "",
        "action_repository": "",
        "actor": event.actor,
        "actor_id": "1",
        "api_url": api_url,
        "base_ref": event.base_ref,
        "event": event.payload,
        "event_name": event.name,
        "graphql_url": f"{server_url}/api/graphql",
        "head_ref": event.head_ref,
        "job": "",
        "ref": event.ref,
        "ref_name": event.ref_name,
        "ref_protected": protected,
        "ref_type": ref_type,
        "repository": REPOSITORY,
        "repository_id": "424242",
        "repository_owner": OWNER,
        "repository_owner_id": "4242",
        "repositoryUrl": f"{server_url}/{REPOSITORY}.git",
        "retention_days": "90",
        "run_attempt": "1",
        "run_id": str(run.id),
        "run_number": str(run.number),
        "secret_source": "Actions",
        "server_url": server_url,
        "sha": event.sha,
        "token": "",
        "triggering_actor": event.actor,
        "workflow": workflow_name,
        "workflow_ref": f"{REPOSITORY}/{run.path}@{event.ref}",
        "workflow_sha": event.sha,
        "workspace": "",
    }


def default_env(
    github: dict[str, Any], paths: dict[str, str], runner: dict[str, str]
) -> dict[str, str]:
    """The ``GITHUB_*`` and ``RUNNER_*`` variables of a step (``paths``: the command files)."""
    env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": github["actor"],
        "GITHUB_ACTOR_ID": github["actor_id"],
        "GITHUB_API_URL": github["api_url"],
        "GITHUB_BASE_REF": github["base_ref"],
        "GITHUB_EVENT_NAME": github["event_name"],
        "GITHUB_GRAPHQL_URL": github["graphql_url"],
        "GITHUB_HEAD_REF": github["head_ref"],
        "GITHUB_JOB": github["job"],
        "GITHUB_REF": github["ref"],
        "GITHUB_REF_NAME": github["ref_name"],
        "GITHUB_REF_PROTECTED": "true" if github["ref_protected"] else "false",
        "GITHUB_REF_TYPE": github["ref_type"],
        "GITHUB_REPOSITORY": github["repository"],
        "GITHUB_REPOSITORY_ID": github["repository_id"],
        "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
        "GITHUB_REPOSITORY_OWNER_ID": github["repository_owner_id"],
        "GITHUB_RETENTION_DAYS": github["retention_days"],
        "GITHUB_RUN_ATTEMPT": github["run_attempt"],
        "GITHUB_RUN_ID": github["run_id"],
        "GITHUB_RUN_NUMBER": github["run_number"],
        "GITHUB_SERVER_URL": github["server_url"],
        "GITHUB_SHA": github["sha"],
        "GITHUB_TRIGGERING_ACTOR": github["triggering_actor"],
        "GITHUB_WORKFLOW": github["workflow"],
        "GITHUB_WORKFLOW_REF": github["workflow_ref"],
        "GITHUB_WORKFLOW_SHA": github["workflow_sha"],
        "GITHUB_WORKSPACE": github["workspace"],
        "GITHUB_EVENT_PATH": paths["event"],
        "GITHUB_ENV": paths["env"],
        "GITHUB_OUTPUT": paths["output"],
        "GITHUB_PATH": paths["path"],
        "GITHUB_STATE": paths["state"],
        "GITHUB_STEP_SUMMARY": paths["summary"],
        "GITHUB_ACTION": paths["action"],
        "RUNNER_ARCH": "X64",
        "RUNNER_ENVIRONMENT": runner["environment"],
        "RUNNER_NAME": runner["name"],
        "RUNNER_OS": "Linux",
        "RUNNER_TEMP": runner["temp"],
        "RUNNER_TOOL_CACHE": runner["tool_cache"],
        "RUNNER_WORKSPACE": str(Path(github["workspace"]).parent),
    }
    return env
