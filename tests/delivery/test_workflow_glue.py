"""The workflows' commit and image steps, run as GitHub runs them (``bash -e -o pipefail``).

The data workflow's publish step is taken from ``data.yml`` itself and run in a clone whose
origin is real ``git http-backend`` behind an auth check (401 without the App token), with a
fake GitHub REST API for the pull request; the image lookup runs against a fake status API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.delivery.fake_github import Recorder, git_server, github_api

REPO = "trading-pipelines/gitops"
TOKEN = "ghs_app_test_token"  # noqa: S105 (a fake token for the fake server)
DIGEST = "sha256:" + "ab" * 32


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def step(workflow: str, job: str, step_id: str) -> dict[str, Any]:
    doc = yaml.safe_load((REPO_ROOT / ".github/workflows" / workflow).read_text())
    return next(s for s in doc["jobs"][job]["steps"] if s.get("id") == step_id)


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITHUB_"))}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env={**base, "HOME": str(cwd.parent / "home"), **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A checkout of main whose origin is ``<server>/trading-pipelines/gitops.git`` (set later)."""
    seed = tmp_path / "seed"
    seed.mkdir()
    shutil.copytree(REPO_ROOT / ".github", seed / ".github")
    for name in ("params.yaml", "dvc.lock", "reports/validation.json", "reports/data_health.json"):
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, seed / name)
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    person = {"GIT_AUTHOR_NAME": "p", "GIT_AUTHOR_EMAIL": "p@x", "GIT_COMMITTER_NAME": "p"}
    git(seed, "commit", "-qm", "seed", env={**person, "GIT_COMMITTER_EMAIL": "p@x"})
    bare = tmp_path / "git" / f"{REPO}.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)  # this venv
    (tmp_path / "home").mkdir()
    return work


def _env(server: str, api: str, work: Path, mode: str) -> dict[str, str]:
    return {
        "BOT_TOKEN": TOKEN,
        "BOT_SLUG": "pipelines-bot",
        "DATA_COMMIT_MODE": mode,
        "GITHUB_SERVER_URL": server,
        "GITHUB_API_URL": api,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_RUN_ID": "4242",
        "GITHUB_OUTPUT": str(work.parent / "output"),
    }


def test_nightly_commit_lands_on_main_as_the_bot_and_nothing_persists(clone: Path) -> None:
    publish = step("data.yml", "data", "publish")
    bare = clone.parent / "git" / f"{REPO}.git"
    with git_server(clone.parent / "git", TOKEN) as server, github_api({}) as api:
        git(clone, "remote", "set-url", "origin", f"{server}/{REPO}.git")
        refused = subprocess.run(
            ["git", "-C", str(clone), "push", "origin", "HEAD:refs/heads/probe"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
        assert refused.returncode != 0, "the server must refuse pushes without the token"
        (clone / "dvc.lock").write_text((clone / "dvc.lock").read_text() + "# new data\n")
        done = run_step(publish["run"], clone, _env(server, api, clone, "push"))
    assert done.returncode == 0, done.stdout + done.stderr
    author = git(bare, "log", "-1", "--format=%an <%ae>|%s", "main")
    assert author.startswith("pipelines-bot[bot] <pipelines-bot[bot]@users.noreply.github.com>|")
    assert "data: nightly run" in author and "[4242]" in author
    assert git(bare, "show", "main:dvc.lock").endswith("# new data")
    assert "extraheader" not in (clone / ".git/config").read_text()
    outputs = (clone.parent / "output").read_text()
    assert "committed=true" in outputs and "mode=push" in outputs


def test_main_moved_meanwhile_the_commit_is_rebased_and_pushed(clone: Path) -> None:
    publish = step("data.yml", "data", "publish")
    bare = clone.parent / "git" / f"{REPO}.git"
    other = clone.parent / "other"
    git(clone.parent, "clone", "-q", str(bare), str(other))
    (other / "README.md").write_text("a merged pull request\n")
    git(other, "add", "README.md")
    person = {"GIT_AUTHOR_NAME": "p", "GIT_AUTHOR_EMAIL": "p@x", "GIT_COMMITTER_NAME": "p"}
    git(other, "commit", "-qm", "merged meanwhile", env={**person, "GIT_COMMITTER_EMAIL": "p@x"})
    git(other, "push", "-q", "origin", "main")
    with git_server(clone.parent / "git", TOKEN) as server, github_api({}) as api:
        git(clone, "remote", "set-url", "origin", f"{server}/{REPO}.git")
        (clone / "reports/validation.json").write_text("{}\n")
        done = run_step(publish["run"], clone, _env(server, api, clone, ""))
    assert done.returncode == 0, done.stdout + done.stderr
    subjects = git(bare, "log", "--format=%s", "main").splitlines()
    assert subjects[0].startswith("data: nightly run") and subjects[1] == "merged meanwhile"


def test_pr_mode_pushes_a_branch_and_opens_a_pull_request(clone: Path) -> None:
    publish = step("data.yml", "data", "publish")
    bare = clone.parent / "git" / f"{REPO}.git"
    recorder = Recorder()
    routes = {("POST", f"/repos/{REPO}/pulls"): (201, {"number": 7, "html_url": "x"})}
    routes[("GET", f"/repos/{REPO}/pulls")] = (200, [])
    with (
        git_server(clone.parent / "git", TOKEN) as server,
        github_api(routes, recorder) as api,
    ):
        git(clone, "remote", "set-url", "origin", f"{server}/{REPO}.git")
        (clone / "dvc.lock").write_text((clone / "dvc.lock").read_text() + "# pr\n")
        done = run_step(publish["run"], clone, _env(server, api, clone, "pr"))
    assert done.returncode == 0, done.stdout + done.stderr
    created = [body for method, path, body in recorder.calls if method == "POST"]
    assert len(created) == 1 and created[0]["base"] == "main"
    assert created[0]["head"].startswith("data/") and created[0]["head"].endswith("-4242")
    assert git(bare, "log", "-1", "--format=%s", "main") == "seed", "main is untouched"
    assert git(bare, "log", "-1", "--format=%an", created[0]["head"]) == "pipelines-bot[bot]"
    assert "pull_request=7" in (clone.parent / "output").read_text()


def test_nothing_new_commits_nothing(clone: Path) -> None:
    publish = step("data.yml", "data", "publish")
    with git_server(clone.parent / "git", TOKEN) as server, github_api({}) as api:
        git(clone, "remote", "set-url", "origin", f"{server}/{REPO}.git")
        done = run_step(publish["run"], clone, _env(server, api, clone, "push"))
    assert done.returncode == 0, done.stderr
    assert "nothing committed" in done.stdout
    assert "committed=false" in (clone.parent / "output").read_text()


def test_a_bad_commit_mode_is_one_line(clone: Path) -> None:
    publish = step("data.yml", "data", "publish")
    with git_server(clone.parent / "git", TOKEN) as server, github_api({}) as api:
        git(clone, "remote", "set-url", "origin", f"{server}/{REPO}.git")
        (clone / "dvc.lock").write_text("changed\n")
        done = run_step(publish["run"], clone, _env(server, api, clone, "direct"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: commit mode 'direct': expected 'push' or 'pr' (DATA_COMMIT_MODE)"
    )
