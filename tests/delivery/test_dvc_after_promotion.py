"""`dvc status` after a merged promotion: nothing to re-run (no stage depends on a manifest)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.delivery.params import DeliveryParams
from pipelines.delivery.promote import promote
from tests.conftest import REPO_ROOT
from tests.delivery.gitrepo import git, merge, write_candidate

# Every dep and out of every stage, created as a placeholder when missing (a path with a suffix
# is a file, one without a folder), so that `dvc commit` can record a lock without training.
PLACEHOLDERS = """
import sys
from pathlib import Path
from dvc.repo import Repo

repo = Repo(sys.argv[1])
for stage in repo.index.stages:
    for item in [*stage.deps, *stage.outs]:
        if type(item).__name__ == "ParamsDependency":
            continue
        path = Path(item.fs_path)
        if path.exists():
            continue
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("placeholder\\n")
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / "placeholder").write_text("placeholder\\n")
"""


def dvc(root: Path, *args: str) -> str:
    exe = Path(sys.executable).with_name("dvc")
    done = subprocess.run(
        [str(exe), *args], cwd=root, capture_output=True, text=True, check=True, timeout=300
    )
    return done.stdout


def pipeline_repo(root: Path) -> Path:
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO_ROOT / name, root / name)
    for folder in ("pipelines", "environments", "data/sample"):
        shutil.copytree(
            REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "config", "user.email", "tests@example.invalid")
    git(root, "config", "user.name", "tests")
    git(root, "config", "commit.gpgsign", "false")
    dvc(root, "init", "--quiet")
    dvc(root, "config", "core.analytics", "false")
    subprocess.run([sys.executable, "-c", PLACEHOLDERS, str(root)], check=True, timeout=300)
    dvc(root, "commit", "--force", "--quiet")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "pipeline with a recorded lock")
    return root


def promote_and_merge(root: Path, evidence: Path, version: str) -> None:
    write_candidate(evidence, version)
    result = promote(root, DeliveryParams(), "dev", by="t", evidence=evidence)
    merge(root, result.branch)


@pytest.mark.slow
def test_a_merged_promotion_leaves_the_pipeline_up_to_date(tmp_path: Path) -> None:
    root = pipeline_repo(tmp_path / "repo")
    evidence = tmp_path / "evidence"
    assert "up to date" in dvc(root, "status")
    promote_and_merge(root, evidence, "1")
    assert git(root, "diff", "--name-only", "HEAD~1", "HEAD") == "environments/dev/model.yaml"
    assert "up to date" in dvc(root, "status"), dvc(root, "status")

    # The control: had the gates stage depended on the manifest, the merge would re-run it.
    import yaml

    definition = yaml.safe_load((root / "dvc.yaml").read_text())
    definition["stages"]["gates"]["deps"].append("environments/dev/model.yaml")
    (root / "dvc.yaml").write_text(yaml.safe_dump(definition, sort_keys=False))
    dvc(root, "commit", "--force", "--quiet", "gates")
    git(root, "commit", "--quiet", "-am", "gates depends on the dev manifest")
    promote_and_merge(root, evidence, "2")
    status = json.loads(dvc(root, "status", "--json"))
    assert list(status) == ["gates"], status
