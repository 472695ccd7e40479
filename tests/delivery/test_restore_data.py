"""pipelines data rollback / restore-data: real git, real DVC, the real validate command.

The repository (``datarepo.py``) has two data versions; restores go back to v1 whole, keep the
raw archive, use v1's params to re-validate, and change nothing at all when they refuse.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import dvc.repo  # noqa: F401 - DVC binds its log handlers to the stderr of import time
import pytest
import yaml

from pipelines.cli import main
from pipelines.delivery.gitops import Git
from pipelines.delivery.restore_data import RestoreError, diff_locks, resolve_revision, restore
from pipelines.delivery.restore_plan import plan_restore
from tests.conftest import require_tool
from tests.delivery.datarepo import DataRepo, build, copy, run, tool_env

KEEP = ["data/raw"]
VALIDATE = ["python", "-m", "pipelines", "--params", "{params}", "data", "validate"]


def test_diff_locks_is_pure() -> None:
    before = {"stages": {"a": {"outs": [{"path": "x", "md5": "1"}, {"path": "y", "md5": "2"}]}}}
    after = {"stages": {"a": {"outs": [{"path": "x", "md5": "3"}, {"path": "z", "md5": "4"}]}}}
    assert [c.describe() for c in diff_locks(before, after)] == [
        "x: 1 -> 3",
        "y: 2 -> absent",
        "z: absent -> 4",
    ]


def test_plan_keeps_the_raw_archive_and_never_deletes() -> None:
    def out(path: str, md5: str) -> dict[str, str]:
        return {"path": path, "md5": md5}

    current = {
        "stages": {
            "ingest": {"outs": [out("data/raw", "r2"), out("bars", "b2"), out("state", "s2")]},
            "health": {"outs": [out("snap", "h2")]},
            "train": {"outs": [out("model", "m2")]},
        }
    }
    target = {
        "stages": {
            "ingest": {"cmd": "old", "outs": [out("data/raw", "r1"), out("bars", "b1")]},
            "train": {"outs": [out("model", "m1")]},
        }
    }
    plan = plan_restore(current, target, ["health", "ingest"], ["data/raw"])
    assert [c.describe() for c in plan.changes] == ["bars: b2 -> b1"]
    assert plan.kept == ["data/raw"]
    stages = plan.lock["stages"]
    assert stages["ingest"]["cmd"] == "old"
    assert stages["ingest"]["outs"] == [
        out("data/raw", "r2"),
        out("bars", "b1"),
        out("state", "s2"),
    ]
    assert stages["health"] == current["stages"]["health"]  # not in v1: left as it is
    assert stages["train"] == current["stages"]["train"]  # not a data stage


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> DataRepo:
    if shutil.which("dvc", path=tool_env()["PATH"]) is None:
        require_tool("dvc")
    return build(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture
def repo(template: DataRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataRepo:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("PATH", tool_env()["PATH"])
    return copy(template, tmp_path / "repo")


def data_status(root: Path) -> dict:
    return json.loads(run(root, "dvc", "data", "status", "--json") or "{}")


@pytest.mark.slow
def test_rollback_restores_v1_whole_with_v1_params(
    repo: DataRepo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = repo.root
    run(root, "git", "checkout", "--quiet", repo.v1, "--", "dvc.lock")
    run(root, "dvc", "checkout", "--quiet", "--force")
    v1_files = repo.files()
    run(root, "git", "checkout", "--quiet", "HEAD", "--", "dvc.lock")
    run(root, "dvc", "checkout", "--quiet", "--force")
    before = repo.files()
    monkeypatch.chdir(root)

    assert main(["data", "rollback", "--to", repo.v1]) == 0
    out = capsys.readouterr().out
    assert f"restored data of {repo.v1[:12]} (2024-03-01T12:00:00+00:00), re-validated" in out
    assert "data/raw: kept as it is" in out
    after = repo.files()
    data = [p for p in after if p.startswith("data/") and not p.startswith("data/raw/")]
    assert {p: after[p] for p in data} == {p: v1_files[p] for p in data}
    for report in ("reports/validation.json", "reports/summary/validation.json"):
        v1_report = run(root, "git", "show", f"{repo.v1}:{report}")
        assert after[report].decode().strip() == v1_report
    # The raw archive is never replaced: both archived inputs are still there.
    assert sorted(p for p in after if p.startswith("data/raw/")) == [
        "data/raw/0000.csv",
        "data/raw/0001.csv",
    ]
    assert {p: after[p] for p in after if p.startswith("data/raw/")} == {
        p: before[p] for p in before if p.startswith("data/raw/")
    }
    assert after["models/model.txt"] == before["models/model.txt"]  # not a data stage
    # dvc.lock and the work tree agree; only dvc.lock and the git-tracked reports changed.
    assert "uncommitted" not in data_status(root)
    assert set(run(root, "git", "status", "--porcelain").split()) == {
        "M",
        "dvc.lock",
        "reports/validation.json",
        "reports/summary/validation.json",
    }
    # v1's bars pass only with v1's params (one bad tick tolerated); today's params refuse them.
    check = subprocess.run(
        [sys.executable, "-m", "pipelines", "data", "validate"],
        cwd=root,
        env=tool_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode != 0 and "integrity" in check.stderr


def test_restore_by_date_picks_the_last_revision_at_or_before_it(repo: DataRepo) -> None:
    git = Git(repo.root)
    assert resolve_revision(git, None, "2024-03-03")[0] == repo.v1
    assert resolve_revision(git, None, "2024-03-05") == (repo.v2, "2024-03-05T12:00:00+00:00")
    assert resolve_revision(git, None, "2024-03-05T11:59Z")[0] == repo.v1
    with pytest.raises(RestoreError, match="no commit changed dvc.lock at or before"):
        resolve_revision(git, None, "2024-02-01")
    with pytest.raises(RestoreError, match="expected YYYY-MM-DD"):
        resolve_revision(git, None, "last tuesday")
    with pytest.raises(RestoreError, match="one of them"):
        resolve_revision(git, repo.v1, "2024-03-03")


@pytest.mark.slow
def test_restore_by_date_through_the_cli(
    repo: DataRepo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo.root)
    assert main(["restore-data", "--date", "2024-03-04", "--no-validate"]) == 0
    out = capsys.readouterr().out
    assert f"restored data of {repo.v1[:12]}" in out and "not re-validated" in out
    assert json.loads((repo.root / "data/summary.json").read_text()) == {"rows": 249}


def v1_only_objects(repo: DataRepo) -> list[Path]:
    """Cache files of v1's DVC-cached data outputs (raw archive aside) that v2 does not share."""
    v1 = yaml.safe_load(run(repo.root, "git", "show", f"{repo.v1}:dvc.lock"))
    v2 = yaml.safe_load((repo.root / "dvc.lock").read_text())

    def digests(lock: dict) -> set[str]:
        data_stages = ("ingest", "validate", "data_health")
        outs = [o for n in data_stages for o in lock["stages"][n].get("outs", [])]
        tracked = {o["path"] for o in outs if run(repo.root, "git", "ls-files", o["path"])}
        return {o["md5"] for o in outs if o["path"] not in {*KEEP, *tracked}}

    cache = repo.root / ".dvc" / "cache" / "files" / "md5"
    found = [cache / d[:2] / d[2:] for d in digests(v1) - digests(v2)]
    return [p for p in found if p.exists()]


@pytest.fixture
def remote_bucket(s3_endpoint: str) -> Iterator[str]:
    name = "restore-dvc"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=name)
    yield name
    for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.mark.slow
def test_missing_objects_change_nothing_then_the_remote_has_them(
    template: DataRepo, repo: DataRepo, s3_endpoint: str, remote_bucket: str
) -> None:
    root = repo.root
    run(root, "dvc", "remote", "add", "--local", "-d", "store", f"s3://{remote_bucket}/dvc")
    run(root, "dvc", "remote", "modify", "--local", "store", "endpointurl", s3_endpoint)
    gone = v1_only_objects(repo)
    assert gone
    for path in gone:
        path.unlink()
    before = repo.files()
    lock = (root / "dvc.lock").read_text()
    with pytest.raises(RestoreError, match="not in the DVC cache .* nothing was changed") as err:
        restore(root, repo.v1, stage="data_health", keep=KEEP, validate=VALIDATE)
    assert "data/ingested/bars.parquet" in str(err.value)
    assert repo.files() == before and (root / "dvc.lock").read_text() == lock
    assert not list((root / ".dvc" / "tmp").glob("restore-*"))

    # Pushed from another clone that still has every version: now the restore fetches them.
    pusher = copy(template, root.parent / "pusher").root
    run(pusher, "dvc", "remote", "add", "--local", "-d", "store", f"s3://{remote_bucket}/dvc")
    run(pusher, "dvc", "remote", "modify", "--local", "store", "endpointurl", s3_endpoint)
    run(pusher, "dvc", "push", "--quiet", "--all-commits")
    done = restore(root, repo.v1, stage="data_health", keep=KEEP, validate=VALIDATE)
    assert "data/ingested/bars.parquet" in [c.path for c in done.changes]
    assert [p for p in gone if not p.exists()] == []  # fetched into the cache
    assert "uncommitted" not in data_status(root)


@pytest.mark.slow
def test_refuses_to_overwrite_work_and_changes_nothing(repo: DataRepo) -> None:
    root = repo.root
    validated = root / "data" / "validated" / "bars.parquet"
    validated.write_bytes(validated.read_bytes() + b"local edit")
    before = repo.files()
    with pytest.raises(RestoreError, match=r"data/validated/bars.parquet: changed since dvc.lock"):
        restore(root, repo.v1, stage="data_health", keep=KEEP, validate=VALIDATE)
    assert repo.files() == before
    run(root, "dvc", "checkout", "--quiet", "--force")

    with (root / "dvc.lock").open("a") as lock:
        lock.write("# an edit in progress\n")
    before = repo.files()
    with pytest.raises(RestoreError, match="uncommitted changes in dvc.lock"):
        restore(root, repo.v1, stage="data_health", keep=KEEP, validate=VALIDATE)
    assert repo.files() == before


@pytest.mark.slow
def test_failed_revalidation_changes_nothing(repo: DataRepo) -> None:
    before = repo.files()
    failing = ["python", "-c", "import sys; sys.exit('bars rejected: {params}')"]
    with pytest.raises(RestoreError, match="re-validation of .* failed, nothing was changed"):
        restore(repo.root, repo.v1, stage="data_health", keep=KEEP, validate=failing)
    assert repo.files() == before


def test_without_dvc_nothing_is_touched_and_one_line_is_printed(
    repo: DataRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(require_tool("git"))
    monkeypatch.setenv("PATH", str(only_git))  # no dvc executable ...
    monkeypatch.setitem(sys.modules, "dvc.repo", None)  # ... and no dvc package
    monkeypatch.chdir(repo.root)
    before = repo.files()
    code = main(["data", "rollback", "--to", repo.v1])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: dvc is not installed") and "nothing was changed" in err[-1]
    assert not any("Traceback" in line for line in err)
    assert repo.files() == before
