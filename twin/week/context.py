"""What the steps of the week share: the twin's addresses, the GitHub client, carried facts."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin import state
from twin.errors import TwinError
from twin.github.client import GitHubTwinClient
from twin.week.steps import Record

# Generous bounds: a step that needs longer is broken, not slow (the table shows real times).
RUN_TIMEOUT = 900.0


@dataclass
class Week:
    """The scenario's context.

    Attributes:
        home: The twin's home (``.twin``).
        root: The source checkout the twin was seeded from.
        gh: The fake GitHub, as the person.
        record: The table being written.
        facts: Values later steps need (model versions, digests, pull requests, times).
    """

    home: Path
    root: Path
    gh: GitHubTwinClient
    record: Record = field(default_factory=Record)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """The client environment of the twin (endpoints, dummy credentials)."""
        return dict(state.load(self.home)["env"])

    @property
    def origin(self) -> Path:
        """The bare origin repository."""
        folder = Path(state.service(self.home, "github")["folder"])
        return folder / "repos" / "trading-pipelines" / "gitops.git"

    def git(self, *args: str) -> str:
        """Run git in the bare origin and return its output."""
        proc = subprocess.run(  # noqa: S603
            ["git", "-C", str(self.origin), *args],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise TwinError(f"git {' '.join(args[:2])} in the origin: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def scheduled(self, workflow: str) -> dict[str, Any]:
        """Fire ``workflow``'s schedule; its one run, once completed."""
        event = self.gh.fire_schedule(workflow)
        (run,) = self.gh.wait_event(int(event["id"]), RUN_TIMEOUT)
        return run

    def run_ok(self, run: dict[str, Any], what: str) -> dict[str, Any]:
        """``run`` if it succeeded; else a TwinError naming the failed job and step, log tail."""
        if run.get("conclusion") == "success":
            return run
        detail = self.gh.run(int(run["id"]))
        for job in detail.get("jobs", []):
            if job.get("conclusion") in ("failure", "cancelled"):
                for step in job.get("steps", []):
                    if step.get("conclusion") == "failure":
                        log = self.gh.step_log(int(run["id"]), job["key"], step.get("number"))
                        tail = " | ".join(log.strip().splitlines()[-6:])
                        raise TwinError(
                            f"{what}: job {job['key']} step '{step.get('name')}' failed: {tail}"
                        )
                raise TwinError(f"{what}: job {job['key']} {job.get('conclusion')}")
        raise TwinError(f"{what}: run {run['id']} ended {run.get('conclusion')}")
