"""The weekly-report workflow's glue, checked against what it calls.

Its steps are executed by the twin's runner (the lead's e2e); here: the platform runner and the
``health`` environment, pinned actions, commands the real CLI accepts, the artifact is the
folder the report writes, and the info event comes after the report.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex

import yaml

from pipelines.cli import build_parser
from tests.conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "weekly-report.yml"


def _accepted(command: str) -> None:
    words = shlex.split(command.replace("$DAYS", "7").replace('"', ""))
    assert words[:3] == [".venv/bin/python", "-m", "pipelines"], command
    with contextlib.redirect_stderr(io.StringIO()):
        build_parser().parse_args(words[3:])


def test_weekly_report_workflow_runs_the_report_then_pushes_the_event() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc[True]["schedule"] == [{"cron": "0 7 * * 1"}]  # PyYAML reads `on:` as True
    job = doc["jobs"]["report"]
    assert job["runs-on"] == "trading-platform" and job["environment"] == "health"
    # id-token: the health role reads the feature store's calendars (the trading year).
    assert doc["permissions"] == {}
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    pull = next(s for s in job["steps"] if "dvc pull" in s.get("run", ""))
    assert pull["run"].split()[-1] == "data/features/_metadata.json"
    steps = job["steps"]
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    runs = [s for s in steps if "run" in s]
    report = next(s for s in runs if "weekly-report" in s["run"])
    event = next(s for s in runs if "monitor event" in s["run"])
    _accepted(report["run"])
    _accepted(event["run"])
    assert "--kind report" in event["run"] and steps.index(event) > steps.index(report)
    out = re.search(r"--out (\S+)", report["run"]).group(1)  # type: ignore[union-attr]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"].rstrip("/") == out
    assert job["env"]["PROMETHEUS_URL"] == "${{ vars.PROMETHEUS_URL }}"
    assert job["env"]["PUSHGATEWAY_URL"] == "${{ vars.PUSHGATEWAY_URL }}"
