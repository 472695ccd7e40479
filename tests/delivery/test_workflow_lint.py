"""actionlint and shellcheck in ``pipelines lint``: each catches what the others miss."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.delivery.lint.workflows import lint_workflows
from tests.conftest import REPO_ROOT, require_tool


@pytest.fixture
def github(tmp_path: Path) -> Path:
    require_tool("shellcheck")
    shutil.copytree(REPO_ROOT / ".github", tmp_path / ".github")
    return tmp_path


def messages(root: Path) -> list[str]:
    return [str(f) for f in lint_workflows(root, root / ".github" / "workflows")]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture anchor missing in {path}: {old!r}"
    path.write_text(text.replace(old, new, 1))


def test_the_repository_passes(github: Path) -> None:
    assert messages(github) == []


def test_a_variable_not_declared_in_actionlint_yaml(github: Path) -> None:
    edit(github / ".github/workflows/data.yml", "vars.DVC_REMOTE_URL", "vars.DVC_REMOTE")
    found = messages(github)
    assert any(
        'data.yml: line 28: actionlint expression: undefined configuration variable "dvc_remote"'
        in m
        for m in found
    ), found


def test_an_unknown_runner_label(github: Path) -> None:
    edit(
        github / ".github/workflows/train.yml",
        "runs-on: trading-platform",
        "runs-on: trading-platfrom",
    )
    found = messages(github)
    assert any('actionlint runner-label: label "trading-platfrom" is unknown' in m for m in found)


def test_shellcheck_reads_run_scripts(github: Path) -> None:
    edit(
        github / ".github/workflows/data.yml",
        "run: .venv/bin/dvc push --with-deps data_health\n",
        "run: .venv/bin/dvc push --with-deps data_health $(echo -r) $REMOTE\n",
    )
    found = messages(github)
    assert any("data.yml" in m and "SC2046" in m for m in found), found
    assert any("data.yml" in m and "SC2086" in m for m in found), found


def test_shellcheck_reads_the_helper_scripts(github: Path) -> None:
    edit(github / ".github/scripts/as-bot", 'exec "$@"', "exec $@")
    found = messages(github)
    assert any(m.startswith(".github/scripts/as-bot: line") and "SC2068" in m for m in found)


def test_a_missing_shellcheck_is_a_finding_not_a_pass(
    github: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    found = messages(github)
    assert any(m.startswith("shellcheck: -: shellcheck is not installed") for m in found), found
