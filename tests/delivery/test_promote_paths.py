"""Promotion paths no other test runs, in a real temporary git repository.

Reuse of a stale promotion branch (merged but not deleted, or a no-op), the refusal naming what
the live branch promotes, the "now in <env>" comparison of the pull request, a CI checkout that
has the base branch only as a remote-tracking ref, and what a promotion writes (manifest record,
commit message, PR title and comment, step summary, report file).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.delivery import report
from pipelines.delivery.github import GitHubClient
from pipelines.delivery.params import DeliveryParams
from pipelines.delivery.promote import PromotionRefused, PromotionResult, promote
from pipelines.errors import PipelineError
from tests.delivery.gitrepo import git, init_repo, merge, write_candidate
from tests.registry.fixtures import image_for

PARAMS = DeliveryParams()
DEV = "environments/dev/model.yaml"


def manifest(root: Path, rev: str) -> dict[str, Any]:
    return yaml.safe_load(git(root, "show", f"{rev}:{DEV}"))


def merge_keeping_branch(root: Path, branch: str) -> None:
    git(root, "merge", "--quiet", "--no-ff", "-m", f"Merge {branch}", branch)


class RecordingGitHub:
    """The GitHub REST subset promote uses, recording pulls and comments (GitHub is fakeable)."""

    def __init__(self) -> None:
        self.pulls: list[dict[str, Any]] = []
        self.comments: list[str] = []

    def __call__(self, method: str, url: str, headers: dict[str, str], body: Any) -> Any:
        path = url.split("/repos/o/r", 1)[1]
        if method == "GET" and path.startswith("/pulls"):
            return 200, []
        if method == "POST" and path == "/pulls":
            self.pulls.append({**body, "number": 7})
            return 201, self.pulls[-1]
        if method == "GET" and "/comments" in path:
            return 200, []
        if method == "POST" and path == "/issues/7/comments":
            self.comments.append(body["body"])
            return 201, {"id": 1}
        return 404, {"message": "Not Found"}


def test_a_merged_branch_left_behind_is_reused_and_the_pr_compares_with_what_runs(
    tmp_path: Path,
) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    first = promote(root, PARAMS, "dev", by="t")
    merge_keeping_branch(root, first.branch)  # merged, branch not deleted
    write_candidate(root, "2")
    fake = RecordingGitHub()
    client = GitHubClient("o/r", "t", "https://api.example", transport=fake)
    second = promote(root, PARAMS, "dev", by="t", github=client)
    assert (second.status, second.version, second.pull_request) == ("created", "2", 7)
    assert git(root, "rev-parse", second.branch) == second.commit
    assert git(root, "rev-parse", f"{second.branch}^") == git(root, "rev-parse", "main")
    assert manifest(root, second.branch)["model"]["version"] == "2"
    # The pull request says what runs now and compares the metrics with it.
    image1 = image_for("image-1")
    assert f"- now in `dev`: `strategy-lgbm` 1 (image `{image1}`)" in second.body
    assert f"- image: `{image_for('image-2')}`" in second.body
    assert "| sharpe | 2.1 | 2.2 | +0.1 |" in second.body
    assert "| win_rate | 0.57 | 0.57 | +0 |" in second.body
    assert fake.pulls[0]["title"] == "Promote strategy-lgbm 2 to dev"
    assert fake.pulls[0]["body"] == second.body
    gate = json.loads((root / "reports/gates/dev.json").read_text())
    current = {"sharpe": 2.1, "win_rate": 0.57}
    candidate = {"sharpe": 2.2, "win_rate": 0.57}
    expected = report.metrics_table(candidate, current) + "\n" + report.gate_table(gate)
    assert fake.comments == [f"{PARAMS.report_marker}\n{expected}"]


def test_a_no_op_branch_that_never_merged_is_reused(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    git(root, "checkout", "--quiet", "-b", "promote/dev")
    (root / "notes.md").write_text("unrelated\n")
    git(root, "add", "notes.md")
    git(root, "commit", "--quiet", "-m", "not a promotion")  # dev manifest as on main
    git(root, "checkout", "--quiet", "main")
    write_candidate(root, "1")
    result = promote(root, PARAMS, "dev", by="t")
    assert result.status == "created"
    assert manifest(root, "promote/dev")["model"]["version"] == "1"
    assert git(root, "diff", "--name-only", "main", "promote/dev") == DEV


def test_a_live_branch_is_refused_naming_what_it_promotes(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    promote(root, PARAMS, "dev", by="t")
    before = git(root, "rev-parse", "promote/dev")
    write_candidate(root, "2")
    with pytest.raises(PromotionRefused) as refused:
        promote(root, PARAMS, "dev", by="t")
    assert str(refused.value) == (
        "dev: another promotion is in progress on branch promote/dev (strategy-lgbm 1); "
        "merge or close it, then delete the branch"
    )
    assert git(root, "rev-parse", "promote/dev") == before


def test_a_branch_emptying_a_deployed_environment_is_live_too(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    initial = git(root, "rev-parse", "main")
    write_candidate(root, "1")
    merge(root, promote(root, PARAMS, "dev", by="t").branch)
    # A branch off the old history whose dev manifest is the empty one: not merged, not a no-op.
    git(root, "checkout", "--quiet", "-b", "promote/dev", initial)
    (root / "notes.md").write_text("x\n")
    git(root, "add", "notes.md")
    git(root, "commit", "--quiet", "-m", "empty dev")
    git(root, "checkout", "--quiet", "main")
    write_candidate(root, "2")
    with pytest.raises(PromotionRefused, match=r"on branch promote/dev \(an empty manifest\)"):
        promote(root, PARAMS, "dev", by="t")


def test_promotion_from_a_checkout_without_a_local_base_branch(tmp_path: Path) -> None:
    origin = init_repo(tmp_path / "origin")
    clone = tmp_path / "ci"
    git(tmp_path, "clone", "--quiet", str(origin), str(clone))
    git(clone, "config", "user.email", "ci@example.invalid")
    git(clone, "config", "user.name", "ci")
    git(clone, "checkout", "--quiet", "--detach")
    git(clone, "branch", "-D", "main")  # actions/checkout of a commit has only origin/main
    write_candidate(clone, "1")
    result = promote(clone, PARAMS, "dev", by="ci")
    assert result.status == "created"
    assert git(clone, "rev-parse", f"{result.branch}^") == git(origin, "rev-parse", "main")
    with pytest.raises(PromotionRefused) as refused:
        promote(clone, PARAMS, "dev", by="ci", base="release")
    assert str(refused.value) == (
        f"base branch 'release' does not exist in {clone} (nor origin/release)"
    )


def test_an_explicit_base_branch_is_built_on(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    git(root, "checkout", "--quiet", "-b", "release")
    (root / "release.txt").write_text("r\n")
    git(root, "add", "release.txt")
    git(root, "commit", "--quiet", "-m", "release")
    git(root, "checkout", "--quiet", "main")
    write_candidate(root, "1")
    result = promote(root, PARAMS, "dev", by="t", base="release")
    assert git(root, "rev-parse", f"{result.branch}^") == git(root, "rev-parse", "release")


def test_what_a_promotion_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    result = promote(root, PARAMS, "dev", by="alice", reason="weekly retrain", now=at)
    assert result.pull_request is None and result.version == "1"
    record = manifest(root, result.branch)["model"]["promotion"]
    assert record == {
        "from": "training",
        "at": "2026-01-02T03:04:05Z",
        "by": "alice",
        "reason": "weekly retrain",
    }
    gate_sha = manifest(root, result.branch)["model"]["evaluation"]["gate"]["report_sha256"]
    assert git(root, "log", "-1", "--format=%B", result.branch) == (
        f"Promote strategy-lgbm 1 to dev\n\nImage: {image_for('image-1')}\n"
        f"Gate report: reports/gates/dev.json (sha256 {gate_sha})"
    )
    written = root / "reports" / "promotion" / "dev.md"
    assert written.read_text(encoding="utf-8") == result.body
    assert "- now in `dev`: nothing deployed" in result.body
    assert "workflow artifacts" not in result.body  # no plots: no plots section


def test_the_default_reason_names_the_gate_report(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    result = promote(root, PARAMS, "dev", by="t")
    reason = manifest(root, result.branch)["model"]["promotion"]["reason"]
    assert reason == "gate passed for dev (reports/gates/dev.json)"


def test_the_gate_report_defaults_to_the_environments_path(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    candidate = root / "models" / "candidate.json"
    doc = json.loads(candidate.read_text())
    doc["gate_reports"] = {"staging": "reports/gates/staging.json"}  # none named for dev
    candidate.write_text(json.dumps(doc))
    result = promote(root, PARAMS, "dev", by="t")
    assert "Gate report: reports/gates/dev.json" in git(
        root, "log", "-1", "--format=%B", "promote/dev"
    )
    assert result.status == "created"


def test_already_deployed_changes_nothing_and_says_so(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    merge(root, promote(root, PARAMS, "dev", by="t").branch)
    refs = git(root, "for-each-ref")
    result = promote(root, PARAMS, "dev", by="t")
    assert result == PromotionResult(
        "dev", "promote/dev", git(root, "rev-parse", "main"), "already-deployed", "", None, "1"
    )
    assert git(root, "for-each-ref") == refs


def test_the_step_summary_is_appended_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    gate = json.loads((root / "reports/gates/dev.json").read_text())
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    promote(root, PARAMS, "dev", by="t")
    assert summary.read_text(encoding="utf-8") == report.gate_table(gate) + "\n"
    summary.write_text("## earlier step\n", encoding="utf-8")
    promote(root, PARAMS, "dev", by="t")
    assert (
        summary.read_text(encoding="utf-8") == "## earlier step\n" + report.gate_table(gate) + "\n"
    )


def test_plots_are_listed_with_a_link_to_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    plots = root / "models" / "plots"
    plots.mkdir(parents=True)
    for name in ("equity.png", "drawdown.png", "notes.txt"):
        (plots / name).write_bytes(b"x")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    body = promote(root, PARAMS, "dev", by="t").body
    assert (
        "In the run's workflow artifacts (`model-plots`):\n\n- `drawdown.png`\n- `equity.png`\n"
        in body
    )
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    body = promote(root, PARAMS, "dev", by="t").body
    link = "[workflow artifacts](https://github.example/o/r/actions/runs/42#artifacts)"
    assert f"In the run's {link} (`model-plots`):" in body


def test_unknown_environment_and_broken_manifest_are_named(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    with pytest.raises(PromotionRefused) as refused:
        promote(root, PARAMS, "qa", by="t")
    assert str(refused.value) == "--to qa: expected one of dev, staging, prod"
    (root / DEV).write_text("image: [not, a, manifest]\n")
    git(root, "commit", "--quiet", "-am", "broken")
    head = git(root, "rev-parse", "main")
    with pytest.raises(PipelineError, match=rf"^{head[:12]}:{DEV}"):
        promote(root, PARAMS, "dev", by="t")


def test_a_promotion_result_is_an_immutable_record() -> None:
    result = PromotionResult("dev", "promote/dev", "c", "created", "body")
    assert (result.pull_request, result.version) == (None, "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "unchanged"  # type: ignore[misc]
