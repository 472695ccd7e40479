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
from pipelines.registry.manifest import empty_manifest
from tests.delivery.gitrepo import bundle_sha, git, init_repo, merge, write_candidate

PARAMS = DeliveryParams()


def manifest(root: Path, env: str, rev: str = "main") -> dict[str, Any]:
    return yaml.safe_load(git(root, "show", f"{rev}:environments/{env}/model.yaml"))


def registry_for(*versions: str) -> InMemoryRegistry:
    return InMemoryRegistry({("strategy-lgbm", v): bundle_sha(v) for v in versions})


def deployed(root: Path, env: str, registry: InMemoryRegistry) -> None:
    """What the deploy template's record step does once the Rollout is healthy."""
    doc = manifest(root, env)
    model = doc["model"]
    registry.record_deployed(model["name"], model["version"], env, doc["image"])


def promote_and_merge(root: Path, env: str, registry: InMemoryRegistry | None = None) -> None:
    result = promote(root, PARAMS, env, by="tester", registry=registry)
    assert result.status == "created"
    assert git(root, "diff", "--name-only", "main", result.branch) == (
        f"environments/{env}/model.yaml"
    )
    merge(root, result.branch)
    if registry is not None:
        deployed(root, env, registry)


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
    registry = registry_for("1", "2")
    sha1 = write_candidate(root, "1")

    with pytest.raises(PromotionRefused, match="nothing runs in staging"):
        promote(root, PARAMS, "prod", by="tester", registry=registry)
    with pytest.raises(PromotionRefused, match="nothing runs in dev"):
        promote(root, PARAMS, "staging", by="tester", registry=registry)

    for env in ("dev", "staging", "prod"):
        promote_and_merge(root, env, registry)
        doc = manifest(root, env)
        assert (doc["model"]["version"], doc["model"]["artifact"]["sha256"]) == ("1", sha1)
        # The image travels with the model, from the candidate to dev and onwards.
        assert doc["image"] == manifest(root, "dev")["image"] != empty_manifest(env)["image"]
    assert manifest(root, "prod")["model"]["promotion"]["from"] == "staging"

    path = "environments/prod/model.yaml"
    at_version_1 = git(root, "rev-list", "--max-count=1", "main", "--", path)
    write_candidate(root, "2")
    for env in ("dev", "staging", "prod"):
        promote_and_merge(root, env, registry)
    assert manifest(root, "prod")["model"]["version"] == "2"
    image2 = manifest(root, "prod")["image"]

    result = rollback(root, PARAMS, "prod", registry=registry, reason="canary aborted")
    assert result.version == "1" and result.branch == "rollback/prod/previous"
    assert git(root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    rolled = manifest(root, "prod", result.branch)
    # Byte for byte (final newline included): the generated ConfigMap keeps its name, so the
    # pod template is the stable one again and Argo skips the canary steps.
    blob = git(root, "rev-parse", f"{result.branch}:{path}")
    assert blob == git(root, "rev-parse", f"{at_version_1}:{path}")
    assert rolled["model"]["version"] == "1" and rolled["image"] != image2
    assert "Reason: canary aborted" in git(root, "log", "-1", "--format=%B", result.branch)
    # The version taken out is no longer one that ran successfully in prod.
    assert "rolled_back.prod" in (registry.tags("strategy-lgbm", "2") or {})
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
    assert git(root, "status", "--porcelain") == ""
    assert first == git(
        root, "rev-list", "--max-count=1", "main", "--", "environments/prod/model.yaml"
    )


def test_promotion_asks_whether_it_ran_successfully_before(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    registry = registry_for("1")
    write_candidate(root, "1")
    promote_and_merge(root, "dev")  # merged, but the deploy never finished
    with pytest.raises(PromotionRefused, match="never finished deploying in dev"):
        promote(root, PARAMS, "staging", by="t", registry=registry)
    with pytest.raises(PromotionRefused, match="model registry is needed"):
        promote(root, PARAMS, "staging", by="t")

    image = manifest(root, "dev")["image"]
    other = image.replace("@sha256:", "@sha256:f")[:-1]
    registry.record_deployed("strategy-lgbm", "1", "dev", other)
    with pytest.raises(PromotionRefused, match="ran in dev with image"):
        promote(root, PARAMS, "staging", by="t", registry=registry)

    deployed(root, "dev", registry)
    registry.record_rolled_back("strategy-lgbm", "1", "dev")
    with pytest.raises(PromotionRefused, match="was rolled back out of dev"):
        promote(root, PARAMS, "staging", by="t", registry=registry)

    deployed(root, "dev", registry)  # redeployed after the rollback: it ran successfully
    assert promote(root, PARAMS, "staging", by="t", registry=registry).status == "created"

    # A newer candidate than what dev runs is not evidence for staging.
    write_candidate(root, "2")
    with pytest.raises(PromotionRefused, match="promote it to dev first"):
        promote(root, PARAMS, "staging", by="t", registry=registry_for("1", "2"))


def test_evidence_is_checked_not_trusted(tmp_path: Path) -> None:
    import hashlib

    from pipelines.delivery.candidate import CandidateError

    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1", judged="e" * 64)
    with pytest.raises(CandidateError, match="judged bundle sha256 eeeeeeeeeeee"):
        promote(root, PARAMS, "dev", by="t")

    evidence = tmp_path / "evidence"  # the training artifact, outside the checkout
    write_candidate(evidence, "1")
    result = promote(root, PARAMS, "dev", by="t", evidence=evidence)
    recorded = manifest(root, "dev", result.branch)["model"]["evaluation"]["gate"]
    report = (evidence / "reports/gates/dev.json").read_bytes()
    assert recorded["report_sha256"] == hashlib.sha256(report).hexdigest()
    assert git(root, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("uri", "image", "message"),
    [
        ("models/model_bundle.json", "default", "is a path, not an object in the artifact store"),
        ("runs:/abc/bundle/model_bundle.json", "default", "embedded MLflow's local store"),
        ("https://example.com/b.json", "default", "not in the artifact store"),
        (None, None, "image is null"),
    ],
)
def test_undeployable_candidate_is_refused(
    tmp_path: Path, uri: str | None, image: str | None, message: str
) -> None:
    root = init_repo(tmp_path / "repo")
    write_candidate(root, "1", uri=uri, image=image)
    with pytest.raises(PromotionRefused, match=message):
        promote(root, PARAMS, "dev", by="t")
    assert git(root, "branch", "--list", "promote/*") == ""


def test_git_writing_commands_refuse_a_dirty_tree_and_never_reset(tmp_path: Path) -> None:
    from pipelines.delivery.gitops import DirtyTree

    root = init_repo(tmp_path / "repo")
    registry = registry_for("1", "2")
    write_candidate(root, "1")
    promote_and_merge(root, "dev", registry)
    write_candidate(root, "2")
    promote_and_merge(root, "dev", registry)
    target = root / "environments/dev/model.yaml"
    edited = target.read_bytes() + b"# work in progress\n"
    target.write_bytes(edited)
    refs = git(root, "for-each-ref")
    with pytest.raises(DirtyTree, match=r"uncommitted changes to environments/dev/model.yaml"):
        rollback(root, PARAMS, "dev", registry=registry, direct=True)
    with pytest.raises(DirtyTree, match="promote --to dev: uncommitted changes"):
        promote(root, PARAMS, "dev", by="t")
    assert target.read_bytes() == edited and git(root, "for-each-ref") == refs

    # Refused later (unknown digest) in a clean tree: the tree is untouched, untracked files too.
    git(root, "checkout", "--", ".")
    (root / "notes.txt").write_text("mine\n")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    with pytest.raises(RollbackRefused, match="unknown to the model registry"):
        rollback(root, PARAMS, "dev", registry=InMemoryRegistry(), direct=True)
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before and git(root, "for-each-ref") == refs

    sources = Path(__file__).resolve().parents[2] / "pipelines"
    offenders = [
        str(p)
        for p in sources.rglob("*.py")
        if any(s in p.read_text() for s in ('"reset"', "--hard"))
    ]
    assert offenders == []


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
    for version in ("1", "2"):
        write_candidate(tmp_path / f"evidence{version}", version)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(evidence: Path) -> None:
        barrier.wait()
        try:
            promote(root, PARAMS, "dev", by="t", evidence=evidence)
            outcomes.append("ok")
        except PromotionRefused as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=run, args=(tmp_path / f"evidence{n}",)) for n in ("1", "2")]
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
    assert err.startswith("error: prod: nothing runs in staging; promote strategy-lgbm 1 (sha256 ")
    assert err.count("\n") == 1


def test_rollback_refuses_invalid_result_and_mixed_commits(tmp_path: Path) -> None:
    from pipelines.registry.manifest import empty_manifest, write_manifest

    root = init_repo(tmp_path / "repo")
    registry = InMemoryRegistry()
    with pytest.raises(RollbackRefused, match="besides environments/dev/model.yaml"):
        rollback(root, PARAMS, "dev", registry=registry)
    target = root / "environments" / "dev" / "model.yaml"
    broken = yaml.safe_load(target.read_text())
    del broken["model"]
    target.write_text(yaml.safe_dump(broken))
    git(root, "commit", "--quiet", "-am", "hand edit without model key")
    write_manifest(target, empty_manifest("dev"))
    git(root, "commit", "--quiet", "-am", "fix")
    before = git(root, "rev-parse", "HEAD")
    with pytest.raises(
        RollbackRefused, match="rolled-back manifest is invalid: .*'model' is a required"
    ):
        rollback(root, PARAMS, "dev", registry=registry, direct=True)
    assert git(root, "rev-parse", "HEAD") == before and git(root, "status", "--porcelain") == ""
