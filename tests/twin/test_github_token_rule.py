"""GitHub's GITHUB_TOKEN rule, branch protection, the settings API and the project's own client.

A pull request opened by a workflow with ``GITHUB_TOKEN`` starts no CI (and so cannot be
merged under required checks); the same workflow with a GitHub App token gets CI.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipelines.delivery.github import GitHubClient
from tests.twin.test_github_server import Twin, git, start_twin
from twin.errors import TwinError

pytestmark = pytest.mark.slow
APP = {
    "4242": {
        "slug": "trading-bot",
        "private_key": "APP-KEY",
        "permissions": {"contents": "write", "pull-requests": "write"},
    }
}


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    for running in start_twin(tmp_path_factory):
        running.client.configure(
            actions={
                "can_approve_pull_request_reviews": True,
                "default_workflow_permissions": "read",
            },
            apps=APP,
            variables={"APP_ID": "4242"},
            secrets={"APP_PRIVATE_KEY": "APP-KEY"},
            branch_protection={
                "main": {"required_status_checks": {"strict": False, "contexts": ["Lint and test"]}}
            },
            environments={
                "prod": {
                    "reviewers": ["release-manager"],
                    "secrets": {"KUBE": "k"},
                    "variables": {"X": "1"},
                }
            },
            runner={"keep_workspaces": True},  # a test reads the token a job left in its temp
        )
        yield running


def test_pr_by_github_token_gets_no_ci_and_an_app_token_pr_does(twin: Twin) -> None:
    client = twin.client
    (by_token,) = client.wait_event(
        client.dispatch_workflow("bot.yml", inputs={"use_app": False})["id"], 60
    )
    assert by_token["conclusion"] == "success", client.step_log(by_token["id"])
    (pr_token,) = client.pulls(head="bot/workflow-token")
    assert pr_token["user"]["login"] == "github-actions[bot]"
    (reason,) = client.no_run_reasons(pr=pr_token["number"])
    assert reason.startswith(
        f"pull_request.opened on PR #{pr_token['number']} was made with GITHUB_TOKEN"
    )
    with pytest.raises(TwinError, match='Required status check "Lint and test" is expected'):
        client.merge(pr_token["number"])

    (by_app,) = client.wait_event(
        client.dispatch_workflow("bot.yml", inputs={"use_app": True})["id"], 60
    )
    assert by_app["conclusion"] == "success", client.step_log(by_app["id"])
    (pr_app,) = client.pulls(head="bot/app")
    assert pr_app["user"]["login"] == "trading-bot[bot]"
    opened = client.events(pr=pr_app["number"])[0]
    assert opened["token"] == "a GitHub App token (trading-bot[bot])"  # noqa: S105
    (ci,) = client.wait_event(opened["id"], 60)
    assert (ci["path"], ci["conclusion"], ci["head_sha"]) == (
        ".github/workflows/ci.yml",
        "success",
        pr_app["head"]["sha"],
    )
    merged = client.merge(pr_app["number"])
    push = [e for e in client.events(event="push") if e["sha"] == merged["sha"]]
    assert (
        push and push[0]["actor"] == "release-manager" and push[0]["runs"]
    )  # pipeline.yml on main
    # Tokens are masked in logs and revoked when their job ends (the action's post step).
    used = (Path(by_app["folder"]) / "open-pr" / "temp" / "token-used").read_text().strip()
    assert used.startswith("ghs_app_") and used not in client.step_log(by_app["id"])
    assert client.api("GET", "/pulls", token=used).status_code == 401


def test_app_token_needs_its_inputs(twin: Twin) -> None:
    twin.client.configure(variables={})
    try:
        (run,) = twin.client.wait_event(
            twin.client.dispatch_workflow("bot.yml", inputs={"use_app": True})["id"], 30
        )
    finally:
        twin.client.configure(variables={"APP_ID": "4242"})
    assert run["conclusion"] == "failure"
    assert "Input required and not supplied: app-id" in run["jobs"][0]["annotations"][0]["message"]


def test_direct_push_to_a_protected_branch_is_refused(twin: Twin, tmp_path: Path) -> None:
    app_token = twin.client.mint_token("app", "trading-bot[bot]", {"contents": "write"})
    work = twin.clone(tmp_path / "work", app_token)
    (work / "app" / "direct").write_text("x\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "direct")
    with pytest.raises(
        AssertionError,
        match='GH006: Protected branch update failed.*\n.*Required status check "Lint and test"',
    ):
        git(work, "push", "origin", "main")
    git(work, "push", "-q", "origin", "main:refs/heads/side")  # other branches are open
    reader = twin.client.mint_token("user", "reader", {"contents": "read"})
    reader_clone = subprocess.run(
        [
            "git",
            "push",
            twin.record["git_url"].replace("http://", f"http://x:{reader}@"),
            "main:refs/heads/r",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert reader_clone.returncode != 0 and "403" in reader_clone.stderr


def test_settings_api_for_doctor(twin: Twin) -> None:
    api = twin.client.api
    assert api("GET", "").json()["private"] is True
    perms = api("GET", "/actions/permissions/workflow").json()
    assert perms == {
        "default_workflow_permissions": "read",
        "can_approve_pull_request_reviews": True,
    }
    envs = {e["name"]: e for e in api("GET", "/environments").json()["environments"]}
    assert (
        envs["prod"]["protection_rules"][0]["reviewers"][0]["reviewer"]["login"]
        == "release-manager"
    )
    secrets = api("GET", "/actions/secrets").json()
    assert [s["name"] for s in secrets["secrets"]] == ["APP_PRIVATE_KEY"]
    assert "APP-KEY" not in str(secrets)
    assert [s["name"] for s in api("GET", "/environments/prod/secrets").json()["secrets"]] == [
        "KUBE"
    ]
    assert api("GET", "/environments/prod/variables").json()["variables"][0]["name"] == "X"
    assert api("GET", "/environments/prod/variables/X").json()["value"] == "1"
    assert api("GET", "/actions/variables/APP_ID").json() == {
        **api("GET", "/actions/variables/APP_ID").json(),
        "value": "4242",
    }
    assert api("GET", "/actions/variables/NOPE").status_code == 404
    assert api("GET", "/actions/secrets/APP_PRIVATE_KEY").json()["name"] == "APP_PRIVATE_KEY"
    assert api("GET", "/actions/organization-secrets").json() == {"total_count": 0, "secrets": []}
    protection = api("GET", "/branches/main/protection").json()
    assert protection["required_status_checks"]["contexts"] == ["Lint and test"]
    assert api("GET", "/branches/side-nope/protection").status_code == 404
    limited = twin.client.mint_token("user", "dev", {"contents": "read"})
    response = httpx.get(
        f"{twin.record['api_url']}/repos/trading-pipelines/gitops/actions/secrets",
        headers={"Authorization": f"Bearer {limited}"},
    )
    assert response.status_code == 403
    assert (
        httpx.get(f"{twin.record['api_url']}/repos/trading-pipelines/gitops/pulls").status_code
        == 401
    )


def test_the_projects_github_client_against_the_server(twin: Twin, tmp_path: Path) -> None:
    work = twin.clone(tmp_path / "work")
    git(work, "switch", "-q", "-c", "promote/dev")
    (work / "app" / "promoted").write_text("v2\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "promote")
    git(work, "push", "-q", "origin", "promote/dev")
    app_token = twin.client.mint_token(
        "app", "trading-bot[bot]", {"contents": "write", "pull-requests": "write"}
    )
    client = GitHubClient("trading-pipelines/gitops", app_token, twin.record["api_url"])
    pr, created = client.open_pull("promote/dev", "main", "Promote to dev", "first body")
    assert created and pr["head"]["ref"] == "promote/dev"
    again, created_again = client.open_pull("promote/dev", "main", "Promote to dev", "second body")
    assert (again["number"], created_again, again["body"]) == (pr["number"], False, "second body")
    marker = "<!-- report -->"
    assert client.upsert_comment(pr["number"], marker, "report v1") == "created"
    assert client.upsert_comment(pr["number"], marker, "report v1") == "unchanged"
    assert client.upsert_comment(pr["number"], marker, "report v2") == "updated"
    client.dispatch("rollback", {"environment": "prod"})
    dispatched = twin.client.events(event="repository_dispatch")[-1]
    assert dispatched["actor"] == "trading-bot[bot]"
    assert dispatched["reason"] == "no workflow has a matching 'on.repository_dispatch' trigger"


def test_commit_statuses_as_image_yml_publishes_them(twin: Twin) -> None:
    sha = twin.client.api("GET", "/branches/main").json()["commit"]["sha"]
    writer = twin.client.mint_token("app", "ci[bot]", {"statuses": "write"})
    for digest in ("sha256:" + "a" * 64, "sha256:" + "b" * 64):
        body = {"state": "success", "context": "image/strategy-service", "description": digest}
        assert twin.client.api("POST", f"/statuses/{sha}", body, token=writer).status_code == 201
    newest_first = twin.client.api("GET", f"/commits/{sha}/statuses?per_page=100").json()
    assert [s["description"][-1] for s in newest_first] == ["b", "a"]
    assert twin.client.api("GET", f"/commits/{sha}/status").json()["state"] == "success"
    reader = twin.client.mint_token("app", "reader[bot]", {"contents": "read"})
    denied = twin.client.api("POST", f"/statuses/{sha}", {"state": "success"}, token=reader)
    assert denied.status_code == 403


def test_workflow_files_need_the_workflows_permission(twin: Twin, tmp_path: Path) -> None:
    plain = twin.client.mint_token("app", "trading-bot[bot]", {"contents": "write"})
    work = twin.clone(tmp_path / "work", plain)
    git(work, "switch", "-q", "-c", "edit-ci")
    ci = work / ".github" / "workflows" / "ci.yml"
    ci.write_text(ci.read_text() + "# edited\n")
    git(work, "commit", "-qam", "edit a workflow")
    with pytest.raises(
        AssertionError,
        match="refusing to allow a GitHub App to create or update workflow "
        "`.github/workflows/ci.yml` without `workflows` permission",
    ):
        git(work, "push", "origin", "edit-ci")
    allowed = twin.client.mint_token(
        "app", "trading-bot[bot]", {"contents": "write", "workflows": "write"}
    )
    url = twin.record["git_url"].replace("http://", f"http://x-access-token:{allowed}@")
    git(work, "push", "-q", url, "edit-ci")
