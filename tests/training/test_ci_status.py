import json
import subprocess
from pathlib import Path

import pytest

from pipelines.cli import main


def _git_repo(folder: Path) -> str:
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    (folder / "f.txt").write_text("x", encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e.invalid"}
    env |= {
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e.invalid",
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", "commit", "-qm", "c"], cwd=folder, check=True, env=env)
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True)
    return out.stdout.strip()


def test_record_ci_writes_the_status_the_gate_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.training.gates import tests_gate

    head = _git_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    assert main(["record-ci", "--status", "passed"]) == 0
    status = json.loads((tmp_path / "reports/ci_status.json").read_text(encoding="utf-8"))
    assert status["tests_passed"] is True and status["commit"] == head
    assert tests_gate(status, head)["verdict"] == "pass"
    assert tests_gate(status, "0" * 40)["verdict"] == "fail"

    assert main(["record-ci", "--status", "failed", "--commit", head]) == 0
    status = json.loads((tmp_path / "reports/ci_status.json").read_text(encoding="utf-8"))
    assert status["tests_passed"] is False
    assert tests_gate(status, head)["verdict"] == "fail"
