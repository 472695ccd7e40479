"""What the workflows hand to each other: image digests, committed outputs, DVC pull targets.

The image lookup runs against a fake commit-status API; the committed and pulled paths are
checked against DVC itself (``dvc.yaml`` and ``dvc status``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.delivery.fake_github import github_api
from tests.delivery.test_github_workflows import SCRIPTS, bash, commit, load


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    commit(tmp_path, {"README.md": "seed\n"}, "seed")
    return tmp_path


def test_image_inputs_agree_between_image_yml_and_the_lookup() -> None:
    paths = load("image")["on"]["push"]["paths"]
    script = (SCRIPTS / "image-digest").read_text()
    listed = script.split("inputs=(", 1)[1].split(")", 1)[0].split()
    assert [p.removesuffix("/**") for p in paths] == listed
    names_step = load("image")["jobs"]["build"]["steps"][1]["run"]
    assert " ".join(listed) in names_step


def test_image_lookup_reads_the_digests_of_the_last_code_commit(repo: Path) -> None:
    code = commit(repo, {"pipelines/x.py": "x = 1\n"}, "code")
    commit(repo, {"dvc.lock": "data\n"}, "nightly data")
    digest = "sha256:" + "cd" * 32
    statuses = [
        {"context": "image/strategy-tools", "state": "success", "description": digest},
        {"context": "ci", "state": "success", "description": "ok"},
        {"context": "image/strategy-service", "state": "success", "description": digest},
    ]
    routes = {("GET", f"/repos/Trading-Pipelines/gitops/commits/{code}/statuses"): (200, statuses)}
    out = repo / "env"
    with github_api(routes) as api:
        env = {"GITHUB_API_URL": api, "GITHUB_REPOSITORY": "Trading-Pipelines/gitops"}
        env |= {"GITHUB_TOKEN": "t", "GITHUB_ENV": str(out)}
        done = bash(str(SCRIPTS / "image-digest"), repo, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert out.read_text().split() == [
            f"SERVICE_IMAGE=ghcr.io/trading-pipelines/strategy-service@{digest}",
            f"TOOLS_IMAGE=ghcr.io/trading-pipelines/strategy-tools@{digest}",
        ]
        later = commit(repo, {"Dockerfile": "FROM scratch\n"}, "new code, not built yet")
        routes[("GET", f"/repos/Trading-Pipelines/gitops/commits/{later}/statuses")] = (200, [])
        missing = bash(str(SCRIPTS / "image-digest"), repo, env)
    assert missing.returncode == 1
    assert f"image strategy-service for {later} not found" in missing.stdout


def test_published_outputs_are_exactly_the_small_outputs_dvc_leaves_to_git() -> None:
    """Every path the bots commit is dvc.lock or an uncached output of that pipeline's stages."""
    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())

    def resolve(text: str) -> str:
        for key, value in params["paths"].items():
            text = text.replace("${paths." + key + "}", value)
        return text

    def uncached(stages: list[str]) -> set[str]:
        out = set()
        for stage in stages:
            spec = dvc["stages"][stage]
            for kind in ("outs", "metrics", "plots"):
                for entry in spec.get(kind) or []:
                    if isinstance(entry, dict):
                        path, options = next(iter(entry.items()))
                        if options and options.get("cache") is False:
                            out.add(resolve(path))
        return out

    data = uncached(["ingest", "validate", "features", "data_health"])
    training = uncached(["tune", "train", "backtest", "card", "register", "gates"])
    training = {p if not p.startswith("reports/gates/") else "reports/gates" for p in training}
    for workflow, job, expected in (("data", "data", data), ("train", "train", training)):
        run = next(
            s["run"] for s in load(workflow)["jobs"][job]["steps"] if s.get("id") == "publish"
        )
        listed = set(run.split('"')[-1].split())
        assert listed == expected | {"dvc.lock"}, workflow


@pytest.mark.parametrize(
    ("workflow", "job"),
    [("promote", "promote"), ("feature-health", "health"), ("data", "data")],
)
def test_dvc_pull_targets_are_real_stages_and_outputs(workflow: str, job: str) -> None:
    """DVC itself resolves every target the workflows pull (``dvc status`` fails otherwise)."""
    pulls = [
        s["run"].split("dvc pull", 1)[1].split()
        for s in load(workflow)["jobs"][job]["steps"]
        if "dvc pull" in s.get("run", "")
    ]
    targets = [t for args in pulls for t in args if not t.startswith("-")]
    assert targets or workflow == "train"
    dvc = str(Path(sys.executable).with_name("dvc"))  # the venv's, beside this interpreter
    for target in targets:
        done = subprocess.run(
            [dvc, "status", target], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{workflow}: dvc pull {target}: {done.stderr.strip()}"
    broken = subprocess.run(
        [dvc, "status", "models"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert broken.returncode != 0, "the old target `models` is not a DVC output"
