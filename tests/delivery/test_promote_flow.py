"""Promotion dev -> staging -> prod and rollback in a temporary git repository."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.delivery.digests import InMemoryRegistry
from pipelines.delivery.github import GitHubClient
from pipelines.delivery.params import DeliveryParams
from pipelines.delivery.promote import PromotionRefused, promote
from pipelines.delivery.rollback import RollbackRefused, rollback
from pipelines.errors import GateFailed, PipelineError
from tests.delivery.gitrepo import git, init_repo, merge, write_candidate

PARAMS = DeliveryParams()


def manifest(root: Path, env: str, rev: str = "main") -> dict[str, Any]:
    return yaml.safe_load(git(root, "show", f"{rev}:environments/{env}/model.yaml"))


def promote_and_merge(root: Path, env: str) -> None:
    result = promote(root, PARAMS, env, by="tester")
    assert result.status == "created"
    assert git(root, "diff", "--name-only", "main", result.branch) == (
        f"environments/{env}/model.yaml"
    )
    merge(root, result.branch)


class FakeGitHub:
    """Records requests and answers like the REST API (the only faked part)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.pulls: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []

    def __call__(self, method: str, url: str, headers: dict[str, str], body: Any) -> Any:
        path = url.split("/repos/o/r", 1)[1]
        self.calls.append((method, path.split("?")[0]))
        assert headers["Authorization"] == "Bearer t"
        if method == "GET" and path.startswith("/pulls"):
            return 200, [p for p in self.pulls if f"head=o:{p['head']}&" in path]
        if method == "POST" and path == "/pulls":
            pull = {**body, "number": len(self.pulls) + 1}
            self.pulls.append(pull)
            return 201, pull
        if method == "PATCH" and path.startswith("/pulls/"):
            pull = self.pulls[int(path.rsplit("/", 1)[1]) - 1]
            pull.update(body)
            return 200, pull
        if method == "GET" and "/comments" in path:
            return 200, list(self.comments)
        if method == "POST" and path.endswith("/comments"):
            self.comments.append({"id": len(self.comments) + 10, "body": body["body"]})
            return 201, self.comments[-1]
        if method == "PATCH" and "/issues/comments/" in path:
            cid = int(path.rsplit("/", 1)[1])
            next(c for c in self.comments if c["id"] == cid)["body"] = body["body"]
            return 200, {}
        return 404, {"message": "Not Found"}


def test_dev_staging_prod_then_rollback(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    sha1 = write_candidate(root, "1")

    with pytest.raises(PromotionRefused, match="never ran in staging"):
        promote(root, PARAMS, "prod", by="tester")
    with pytest.raises(PromotionRefused, match="never ran in dev"):
        promote(root, PARAMS, "staging", by="tester")

    for env in ("dev", "staging", "prod"):
        promote_and_merge(root, env)
        model = manifest(root, env)["model"]
        assert (model["version"], model["artifact"]["sha256"]) == ("1", sha1)
    assert manifest(root, "prod")["model"]["promotion"]["from"] == "staging"

    sha2 = write_candidate(root, "2")
    for env in ("dev", "staging", "prod"):
        promote_and_merge(root, env)
    assert manifest(root, "prod")["model"]["version"] == "2"

    registry = InMemoryRegistry({("strategy-lgbm", "1"): sha1, ("strategy-lgbm", "2"): sha2})
    result = rollback(root, PARAMS, "prod", registry=registry, reason="canary aborted")
    assert result.version == "1" and result.branch == "rollback/prod/previous"
    assert git(root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert manifest(root, "prod", result.branch)["model"]["version"] == "1"
    assert "Reason: canary aborted" in git(root, "log", "-1", "--format=%B", result.branch)
    merge(root, result.branch)
    assert manifest(root, "prod")["model"]["artifact"]["sha256"] == sha1
    assert manifest(root, "staging")["model"]["version"] == "2"

    # Rolling prod back to a version it never ran is refused; to nothing is a valid state.
    with pytest.raises(RollbackRefused, match="never ran"):
        rollback(root, PARAMS, "prod", registry=registry, to_version="7")
    first = git(root, "rev-list", "--max-count=1", "main", "--", "environments/prod/model.yaml")
    direct = rollback(root, PARAMS, "dev", registry=registry, to_version="1", direct=True)
    assert direct.branch is None and direct.version == "1"
    assert manifest(root, "dev")["model"]["version"] == "1"
    assert first == git(
        root, "rev-list", "--max-count=1", "main", "--", "environments/prod/model.yaml"
    )


def test_rollback_refuses_digest_unknown_to_registry(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    promote_and_merge(root, "dev")
    write_candidate(root, "2")
    promote_and_merge(root, "dev")
    before = git(root, "rev-parse", "main")
    with pytest.raises(RollbackRefused, match="unknown to the model registry"):
        rollback(root, PARAMS, "dev", registry=InMemoryRegistry())
    assert git(root, "rev-parse", "main") == before
    assert git(root, "status", "--porcelain") == ""
    assert "rollback/dev/previous" not in git(root, "branch", "--list")


def test_second_identical_promotion_changes_nothing(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    fake = FakeGitHub()
    client = GitHubClient("o/r", "t", "https://api.example", transport=fake)
    first = promote(root, PARAMS, "dev", by="tester", github=client)
    refs_before = git(root, "for-each-ref")
    second = promote(root, PARAMS, "dev", by="tester", github=client)
    assert (first.status, second.status) == ("created", "unchanged")
    assert first.commit == second.commit and first.pull_request == second.pull_request == 1
    assert git(root, "for-each-ref") == refs_before
    assert len(fake.pulls) == 1 and len(fake.comments) == 1
    assert [c for c in fake.calls if c[0] in ("POST", "PATCH")] == [
        ("POST", "/pulls"),
        ("POST", "/issues/1/comments"),
    ]
    assert fake.comments[0]["body"].startswith(PARAMS.report_marker)
    assert "| sharpe |" in fake.pulls[0]["body"] and "Model card v1" in fake.pulls[0]["body"]
    # A re-evaluated gate report: same branch, the one report comment is edited in place.
    report_file = root / "reports" / "gates" / "dev.json"
    report_file.write_text(report_file.read_text().replace("2.4", "2.6"))
    third = promote(root, PARAMS, "dev", by="tester", github=client)
    assert third.status == "unchanged" and third.commit == first.commit
    assert len(fake.pulls) == 1 and len(fake.comments) == 1
    assert "| sharpe | 2.6 |" in fake.comments[0]["body"]
    assert ("PATCH", "/issues/comments/10") in fake.calls
    merge(root, first.branch)
    assert promote(root, PARAMS, "dev", by="tester").status == "already-deployed"


def test_gate_failure_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = init_repo(tmp_path / "repo")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_candidate(root, "1", verdicts={"dev": "fail"})
    with pytest.raises(GateFailed, match="did not pass \\(sharpe\\)"):
        promote(root, PARAMS, "dev", by="tester")
    write_candidate(root, "1")
    promote(root, PARAMS, "dev", by="tester")
    assert "| sharpe | 2.4 | > | 2 | ✅ pass |" in summary.read_text()


def test_concurrent_promotions_one_wins(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    roots = []
    for version in ("1", "2"):
        clone = tmp_path / f"clone{version}"
        git(tmp_path, "clone", "--quiet", "--shared", str(root), str(clone))
        git(clone, "config", "user.email", "t@example.invalid")
        git(clone, "config", "user.name", "t")
        write_candidate(clone, version)
        roots.append(clone)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def run(clone: Path) -> None:
        barrier.wait()
        try:
            promote(clone, PARAMS, "dev", by="tester", push=True)
            outcomes[clone.name] = "ok"
        except PipelineError as exc:
            outcomes[clone.name] = str(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in roots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes.values()).count("ok") == 1, outcomes
    loser = next(v for v in outcomes.values() if v != "ok")
    assert "another promotion to dev" in loser, loser

    # A later fresh clone sees the open promotion through its remote-tracking branch.
    winner = next(k for k, v in outcomes.items() if v == "ok")
    late = tmp_path / "late"
    git(tmp_path, "clone", "--quiet", "--shared", str(root), str(late))
    write_candidate(late, winner.removeprefix("clone"))
    assert promote(late, PARAMS, "dev", by="t", push=True).status == "unchanged"
    write_candidate(late, "3")
    with pytest.raises(PromotionRefused, match="another promotion is in progress"):
        promote(late, PARAMS, "dev", by="t", push=True)


def test_concurrent_promotions_in_one_clone(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "2")
    (root / "models" / "candidate2.json").write_text(
        (root / "models" / "candidate.json").read_text()
    )
    write_candidate(root, "1")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(candidate: str) -> None:
        barrier.wait()
        try:
            promote(root, PARAMS, "dev", by="t", candidate_path=Path(candidate))
            outcomes.append("ok")
        except PromotionRefused as exc:
            outcomes.append(str(exc))

    threads = [
        threading.Thread(target=run, args=(f"models/{n}.json",))
        for n in ("candidate", "candidate2")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("ok") == 1, outcomes
    assert any("another promotion is in progress on branch promote/dev" in o for o in outcomes)


def test_cli_promote_and_refusal_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main
    from tests.conftest import REPO_ROOT

    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1")
    monkeypatch.chdir(root)
    params = ["--params", str(REPO_ROOT / "params.yaml")]
    assert main([*params, "promote", "--to", "dev", "--by", "cli"]) == 0
    assert capsys.readouterr().out == "dev: created on promote/dev\n"
    assert main([*params, "promote", "--to", "prod"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: prod: strategy-lgbm 1 (sha256 ") and err.count("\n") == 1
    assert "never ran in staging" in err


def test_rollback_refuses_invalid_result_and_mixed_commits(tmp_path: Path) -> None:
    from pipelines.registry.manifest import empty_manifest, write_manifest

    root = init_repo(tmp_path / "repo")
    registry = InMemoryRegistry()
    with pytest.raises(RollbackRefused, match="besides environments/dev/model.yaml"):
        rollback(root, PARAMS, "dev", registry=registry)
    target = root / "environments" / "dev" / "model.yaml"
    target.write_text("apiVersion: pipelines.trading/v1\nkind: ModelManifest\nenvironment: dev\n")
    git(root, "commit", "--quiet", "-am", "hand edit without model key")
    write_manifest(target, empty_manifest("dev"))
    git(root, "commit", "--quiet", "-am", "fix")
    before = git(root, "rev-parse", "HEAD")
    with pytest.raises(
        RollbackRefused, match="rolled-back manifest is invalid: .*'model' is a required"
    ):
        rollback(root, PARAMS, "dev", registry=registry, direct=True)
    assert git(root, "rev-parse", "HEAD") == before and git(root, "status", "--porcelain") == ""
