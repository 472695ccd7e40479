"""The in-cluster data and training templates' scripts, run with ``sh`` against recording stubs.

The stubs stand in for git, dvc and pipelines (the tools image's commands); the script is the
template's own ``source`` with Argo's parameters substituted, and passes shellcheck as ``sh``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, require_tool


def script(name: str) -> tuple[str, dict[str, str]]:
    doc = next(yaml.safe_load_all((REPO_ROOT / f"deploy/argo/{name}.yaml").read_text()))
    template = doc["spec"]["templates"][0]["script"]
    params = {p["name"]: p.get("value", "") for p in doc["spec"]["arguments"]["parameters"]}
    source = template["source"]
    for key, value in params.items():
        source = source.replace("{{workflow.parameters.%s}}" % key, value)  # noqa: UP031
    env = {e["name"]: e.get("value", "s3://bucket/cache") for e in template["env"]}
    return source, env


def run(tmp_path: Path, name: str, failing: str = "") -> tuple[int, list[str]]:
    source, env = script(name)
    source = source.replace("/tmp/repo", str(tmp_path / "repo"))  # noqa: S108
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("git", "dvc", "pipelines"):
        body = f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n'
        body += f'[ "{tool} $*" = "$FAIL_ON" ] && exit 1\n'
        if tool == "git":
            body += f'mkdir -p "{tmp_path / "repo"}"\n'
        (bin_dir / tool).write_text(body + "exit 0\n")
        (bin_dir / tool).chmod(0o755)
    done = subprocess.run(
        ["sh", "-c", source],
        env={**env, "FAIL_ON": failing, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, log.read_text().splitlines()


def test_data_template_forces_ingest_and_records_success(tmp_path: Path) -> None:
    code, calls = run(tmp_path, "data")
    assert code == 0
    assert [c for c in calls if c.startswith("dvc")] == [
        "dvc remote modify --local storage url s3://bucket/cache",
        "dvc pull --allow-missing --with-deps data_health",
        "dvc repro --force --single-item ingest",
        "dvc repro data_health",
        "dvc push --with-deps data_health",
    ]
    assert calls[-1].startswith("pipelines monitor mark --pipeline data --status success")


def test_a_failed_stage_is_recorded_as_a_failure_and_fails_the_step(tmp_path: Path) -> None:
    code, calls = run(tmp_path, "data", failing="dvc repro data_health")
    assert code == 1
    assert "dvc push" not in calls
    assert calls[-1].startswith("pipelines monitor mark --pipeline data --status failure")


@pytest.mark.parametrize("name", ["data", "training"])
def test_templates_push_to_the_pushgateway_and_pass_shellcheck(name: str) -> None:
    shellcheck = require_tool("shellcheck")
    source, env = script(name)
    assert env["PUSHGATEWAY_URL"] == "http://pushgateway.monitoring.svc:9091"
    done = subprocess.run(
        [shellcheck, "-s", "sh", "-"], input=source, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout
