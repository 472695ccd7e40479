"""The ``uses:`` table: the only actions the twin runs, each mapped to a local equivalent.

Actions are matched on ``owner/name`` (any ref: this repository pins full commit SHAs); an
action not in the table fails the job at set-up, naming it. The table:

- ``actions/checkout``: clone over the twin's git HTTP at the event's SHA/ref (``ref``,
  ``token``, ``fetch-depth`` (0 = all), ``path``; ``persist-credentials`` keeps the auth
  header in the local git config, like the real action).
- ``actions/setup-python``: this machine's Python 3.11 (another version fails) on PATH.
- ``astral-sh/setup-uv``: this machine's ``uv`` on PATH (``version`` must match it).
- ``actions/upload-artifact`` / ``actions/download-artifact``: a per-run store by name
  (``path`` globs and lines, ``!`` excludes, hidden files left out, ``if-no-files-found``,
  ``overwrite``; ``pattern``, ``merge-multiple``).
- ``aws-actions/configure-aws-credentials``: ``role-to-assume`` must be in the twin's role
  table for the job's OIDC subject and the job needs ``id-token: write``; then moto's dummy
  credentials, ``AWS_REGION`` and the twin's ``AWS_ENDPOINT_URL``.
- ``actions/create-github-app-token``: ``app-id`` and ``private-key`` must match an App
  installed in the twin config; output ``token`` (``ghs_app_*``), revoked when the job ends.
- ``docker/setup-buildx-action``, ``docker/login-action``: record the builder and the login
  (``ghcr.io`` needs a live twin token).
- ``docker/build-push-action``: ``twin.registry.build(context, dockerfile, target)``; outputs
  ``digest``, ``imageid``, ``metadata``.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from twin.github.jobsetup import JobFailed
from twin.github.stepexec import LineSink

if TYPE_CHECKING:
    from twin.github.jobrun import JobRun

_USES = re.compile(r"^(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)(?P<path>/[^@]*)?@(?P<ref>.+)$")


class ActionFailed(Exception):
    """An action step failed; the message is its error annotation."""


@dataclass
class ActionCall:
    """One ``uses:`` step: its inputs, its env, its log and its outputs."""

    job: JobRun
    uses: str
    inputs: dict[str, str]
    env: dict[str, str]
    sink: LineSink
    outputs: dict[str, str] = field(default_factory=dict)
    deadline: float = float("inf")
    was_cancelled: bool = False

    def input(self, name: str, default: str = "") -> str:
        """An input's value (``default`` when empty or absent)."""
        value = self.inputs.get(name, "")
        return default if value == "" else value

    def flag(self, name: str, default: bool) -> bool:
        """A boolean input (``true``/``false``)."""
        value = self.input(name, "true" if default else "false").strip().lower()
        if value not in ("true", "false"):
            raise ActionFailed(f'Input does not meet YAML 1.2 "Core Schema" specification: {name}')
        return value == "true"

    def log(self, text: str) -> None:
        """Write to the step's log (masked)."""
        for line in text.splitlines() or [""]:
            self.sink.line(line)

    def process_env(self) -> dict[str, str]:
        """The environment a command of this step runs with."""
        files = {k: "" for k in ("env", "output", "path", "state", "summary", "event")}
        files["action"] = self.uses.split("@")[0].replace("/", "")
        files["event"] = str(self.job.folder / "event.json")
        return self.job.process_env(self.env, files)

    def run(self, argv: Sequence[str], *, cwd: Path | None = None, quiet: bool = False) -> str:
        """Run a command (bounded by the step's deadline); its stdout, or ActionFailed."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ActionFailed("The action has timed out.")
        if not quiet:
            self.log(f"[command]{' '.join(argv)}")
        try:
            proc = subprocess.run(  # noqa: S603 - argv built by the action table
                list(argv),
                cwd=cwd or self.job.workspace,
                env=self.process_env(),
                capture_output=True,
                timeout=None if remaining == float("inf") else remaining,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ActionFailed("The action has timed out.") from None
        except OSError as exc:
            raise ActionFailed(f"cannot run {argv[0]}: {exc.strerror}") from None
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        if not quiet:
            self.log((out + err).rstrip())
        if proc.returncode != 0:
            tail = " | ".join((err or out).strip().splitlines()[-3:])
            raise ActionFailed(
                f"The process '{argv[0]}' failed with exit code {proc.returncode}: {tail}"
            )
        return out


Action = Callable[[ActionCall], None]


def _table() -> dict[str, Action]:
    from twin.github import (
        actions_artifacts,
        actions_checkout,
        actions_cloud,
        actions_docker,
        actions_setup,
    )

    return {
        "actions/checkout": actions_checkout.checkout,
        "actions/setup-python": actions_setup.setup_python,
        "astral-sh/setup-uv": actions_setup.setup_uv,
        "actions/upload-artifact": actions_artifacts.upload,
        "actions/download-artifact": actions_artifacts.download,
        "aws-actions/configure-aws-credentials": actions_cloud.configure_aws_credentials,
        "actions/create-github-app-token": actions_cloud.create_github_app_token,
        "docker/setup-buildx-action": actions_docker.setup_buildx,
        "docker/login-action": actions_docker.login,
        "docker/build-push-action": actions_docker.build_push,
    }


def known_actions() -> list[str]:
    """The ``owner/name`` of every action in the table."""
    return sorted(_table())


def resolve(uses: str) -> Action:
    """The implementation of a ``uses:`` value.

    Raises:
        JobFailed: The action is not in the table (the message names it), or malformed.
    """
    if uses.startswith(("docker://", "./")):
        raise JobFailed(
            f"Unable to resolve action `{uses}`: the twin runs no container or local actions"
        )
    match = _USES.match(uses)
    if not match:
        raise JobFailed(f"Expected format {{org}}/{{repo}}[/path]@ref. Actual '{uses}'")
    key = f"{match['owner']}/{match['name']}".lower()
    table = _table()
    if key not in table or match["path"]:
        raise JobFailed(
            f"Unable to resolve action `{uses}`: '{key}{match['path'] or ''}' "
            "is not in the twin's uses: table "
            f"({', '.join(sorted(table))})"
        )
    return table[key]
