"""ci.yml's "What changed" step, run as bash against commits like the bots' and a person's.

The bots' nightly and weekly commits (``pipelines publish ... <paths>`` in data.yml and
train.yml) and the promotion/rollback manifests must get the fast checks only; a full suite on
every nightly commit is what the first version of this step did once reports/summary/ appeared.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def _changes_script() -> str:
    doc = yaml.safe_load((WORKFLOWS / "ci.yml").read_text(encoding="utf-8"))
    (step,) = [s for s in doc["jobs"]["changes"]["steps"] if s.get("id") == "diff"]
    return str(step["run"])


def _published_paths(workflow: str) -> list[str]:
    doc = yaml.safe_load((WORKFLOWS / workflow).read_text(encoding="utf-8"))
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            run = " ".join(str(step.get("run", "")).split())
            if "pipelines publish" in run:
                words = shlex.split(run.replace("$(", "(").replace("${", "{"))
                tail = words[words.index("publish") + 1 :]
                paths, skip = [], False
                for word in tail:
                    if skip:
                        skip = False
                    elif word.startswith("--"):
                        skip = True
                    else:
                        paths.append(word)
                return paths
    raise AssertionError(f"{workflow}: no 'pipelines publish' step")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def _decide(tmp_path: Path, changed: list[str]) -> str:
    """Run the step on a repository whose last commit changes ``changed``; its ``code``."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.invalid")
    _git(repo, "config", "user.name", "t")
    (repo / "README.md").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    base = _git(repo, "rev-parse", "HEAD")
    for name in changed:
        target = repo / name
        if not target.suffix:  # a folder the step publishes whole (reports/gates)
            target = target / "dev.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("{}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "change")
    output = tmp_path / "out"
    env = {"PATH": "/usr/bin:/bin", "EVENT": "push", "PUSH_BEFORE": base, "PR_BASE": ""}
    env["GITHUB_OUTPUT"] = str(output)
    subprocess.run(["bash", "-e", "-c", _changes_script()], cwd=repo, env=env, check=True)
    return output.read_text().strip()


@pytest.mark.parametrize("workflow", ["data.yml", "train.yml"])
def test_the_bots_published_outputs_get_the_fast_checks_only(tmp_path: Path, workflow: str) -> None:
    paths = _published_paths(workflow)
    assert "dvc.lock" in paths
    assert _decide(tmp_path, paths) == "code=false"


def test_a_promotion_manifest_gets_the_fast_checks_only(tmp_path: Path) -> None:
    assert _decide(tmp_path, ["environments/prod/model.yaml"]) == "code=false"


def test_code_beside_the_outputs_runs_everything(tmp_path: Path) -> None:
    changed = [*_published_paths("data.yml"), "pipelines/data/ingest.py"]
    assert _decide(tmp_path, changed) == "code=true"


def test_a_push_of_only_the_bots_outputs_starts_no_run_the_same_list() -> None:
    """``on.push.paths-ignore`` names exactly the files the step counts as not code."""
    doc = yaml.safe_load((WORKFLOWS / "ci.yml").read_text(encoding="utf-8"))
    ignored = doc[True]["push"]["paths-ignore"]  # PyYAML reads the key `on` as True
    excluded = re.findall(r"':\(exclude(?:,glob)?\)([^']+)'", _changes_script())
    assert excluded, "the step lists no excluded pathspec"
    assert sorted(ignored) == sorted(excluded)
    # Every path the bots publish is ignored (a folder the step publishes whole: its files).
    for workflow in ("data.yml", "train.yml"):
        for path in _published_paths(workflow):
            name = path if Path(path).suffix else f"{path}/dev.json"
            assert any(
                fnmatch.fnmatchcase(name, p) and name.count("/") == p.count("/") for p in ignored
            ), f"{workflow} publishes {name}: not in paths-ignore"
