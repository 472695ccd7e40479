"""The promotion seam: the fake GitHub in-process, and a workflow step's tokens as a job has them.

The fake GitHub (``twin.github``) runs in this process so that the test can mint a job's
``GITHUB_TOKEN`` exactly as the runner's job setup does (the job's ``permissions`` over the
repository default) and the App token as ``actions/create-github-app-token`` does (the step's
``permission-*`` inputs). The step's ``env`` is rendered by the runner's expression engine and
its ``run:`` executed in a clone of the origin: the real ``as-bot`` script and the real
``pipelines promote --push --open-pr``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from tests.twin.cluster_support import wait_for
from tests.twin.seam_support import GIT_IDENTITY, TIMEOUT, VENV, git
from twin.github.client import GitHubTwinClient
from twin.github.config import REPOSITORY
from twin.github.expr_values import to_str
from twin.github.expressions import Context, render
from twin.github.seed import seed
from twin.github.server import make_app
from twin.github.service import GitHubTwin
from twin.github.tokens import job_permissions
from twin.repo_settings import APP_SLUG

BOT = "github-actions[bot]"


@dataclass
class FakeGitHub:
    """A running in-process fake GitHub seeded with one source tree."""

    twin: GitHubTwin
    client: GitHubTwinClient


@contextmanager
def fake_github(home: Path, source: Path) -> Iterator[FakeGitHub]:
    """Serve a fake GitHub whose origin is ``source`` (committed), on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    twin = GitHubTwin(home / "github", url, home)
    seed(home, source, lambda folder: [])
    server = uvicorn.Server(
        uvicorn.Config(make_app(twin), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for("fake GitHub", lambda: server.started, 30)
        client = GitHubTwinClient(url, twin.person.value)
        # As the twin's repository settings (twin/repo_settings.py): Actions may open PRs.
        client.configure(
            actions={
                "default_workflow_permissions": "read",
                "can_approve_pull_request_reviews": True,
            }
        )
        yield FakeGitHub(twin, client)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _job(workflow: dict[str, Any], job: str) -> dict[str, Any]:
    found: dict[str, Any] = workflow["jobs"][job]
    return found


def step_env(
    gh: FakeGitHub, workflow: dict[str, Any], job: str, step: dict[str, Any]
) -> dict[str, str]:
    """``step``'s env rendered with the job's GITHUB_TOKEN and the App token step's outputs."""
    spec = _job(workflow, job)
    permissions = job_permissions(
        workflow.get("permissions"),
        spec.get("permissions"),
        gh.twin.config["actions"]["default_workflow_permissions"],
    )
    job_token = gh.twin.tokens.mint("workflow", BOT, permissions)
    steps: dict[str, Any] = {}
    for earlier in spec["steps"]:
        if earlier is step:
            break
        if "create-github-app-token" in str(earlier.get("uses", "")):
            asked = {
                k.removeprefix("permission-"): str(v)
                for k, v in (earlier.get("with") or {}).items()
                if k.startswith("permission-")
            }
            app = gh.twin.tokens.mint("app", f"{APP_SLUG}[bot]", asked)
            outputs = {"token": app.value, "app-slug": APP_SLUG}
            steps[str(earlier["id"])] = {"outputs": outputs, "outcome": "success"}
    ctx = Context(
        values={
            "github": {"token": job_token.value, "actor": gh.twin.person.login},
            "secrets": {"GITHUB_TOKEN": job_token.value},
            "vars": {},
            "env": {},
            "inputs": {},
            "steps": steps,
        }
    )
    return {str(k): to_str(render(v, ctx)) for k, v in (step.get("env") or {}).items()}


def run_promotion_step(
    gh: FakeGitHub, work: Path, workflow_file: str, job: str, name: str
) -> subprocess.CompletedProcess[str]:
    """Clone the origin into ``work`` and run the step ``name`` of ``job`` there."""
    auth = base64.b64encode(f"x-access-token:{gh.twin.person.value}".encode()).decode()
    header = f"http.extraHeader=Authorization: Basic {auth}"
    git(work.parent, "-c", header, "clone", "-q", gh.twin.git_url, work.name)
    (work / ".venv").symlink_to(VENV)  # what the job's `make setup` gives it
    workflow = yaml.safe_load((work / ".github" / "workflows" / workflow_file).read_text())
    step = next(s for s in _job(workflow, job)["steps"] if s.get("name") == name)
    env = {
        **os.environ,
        **GIT_IDENTITY,
        "HOME": str(work.parent),
        "GITHUB_SERVER_URL": gh.twin.url,
        "GITHUB_API_URL": gh.twin.api_url,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_ACTOR": gh.twin.person.login,
        "GITHUB_OUTPUT": str(work.parent / "github-output"),
        **step_env(gh, workflow, job, step),
    }
    return subprocess.run(  # noqa: S603 - the step's own command
        ["bash", "-e", "-c", str(step["run"])],  # noqa: S607
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def promotable_candidate(repo: Path, image: str, uri: str) -> None:
    """What train.yml commits: ``models/candidate.json`` with the image and the S3 artifact."""
    path = repo / "models" / "candidate.json"
    doc = json.loads(path.read_text())
    doc["image"] = image
    doc["artifact"]["uri"] = uri
    path.write_text(json.dumps(doc, indent=2) + "\n")
