"""The in-cluster data and training templates' scripts, run with ``sh`` against recording stubs.

The stubs stand in for git, dvc and pipelines (the tools image's commands); each script is the
template's own ``source`` with Argo's parameters substituted, and passes shellcheck as ``sh``.
The data template's fan-out is checked against what it uses: the partitions list comes from
the file its ``validate`` step writes, each pod's arguments parse with the project's own CLI,
and its ``parallelism`` is params.yaml's ``scale.data_workers``. The twin runs it for real
(``make e2e``, night 3 on Argo).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.cli import build_parser
from pipelines.config import load_params
from tests.conftest import REPO_ROOT, require_tool


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = next(
        yaml.safe_load_all((REPO_ROOT / f"deploy/argo/{name}.yaml").read_text())
    )
    return doc


def _template(name: str, template: str) -> dict[str, Any]:
    return next(t for t in _doc(name)["spec"]["templates"] if t["name"] == template)


def script(name: str, template: str) -> tuple[str, dict[str, str]]:
    doc = _doc(name)
    body = _template(name, template)["script"]
    params = {p["name"]: p.get("value", "") for p in doc["spec"]["arguments"]["parameters"]}
    source = body["source"]
    for key, value in params.items():
        source = source.replace("{{workflow.parameters.%s}}" % key, value)  # noqa: UP031
    env = {e["name"]: e.get("value", "s3://bucket/cache") for e in body["env"]}
    return source, env


def run(tmp_path: Path, name: str, template: str, failing: str = "") -> tuple[int, list[str], Path]:
    source, env = script(name, template)
    source = source.replace("/tmp/", f"{tmp_path}/tmp-").replace("/workspace/", f"{tmp_path}/")  # noqa: S108
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("git", "dvc", "pipelines"):
        body = f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n'
        body += f'[ "{tool} $*" = "$FAIL_ON" ] && exit 1\n'
        if tool == "pipelines":
            body += '[ "$1 $2" = "data partitions" ] && echo \'["0/2", "1/2"]\'\n'
            body += '[ "$1 $2" = "train-splits --list" ] && echo \'["0/2", "1/2"]\'\n'
            body += '[ "$1 $2" = "tune --create-study" ] && echo \'[{"study": "tune-1"}]\'\n'
        (bin_dir / tool).write_text(body + "exit 0\n")
        (bin_dir / tool).chmod(0o755)
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    (tmp_path / "started").write_text("1700000000\n")
    done = subprocess.run(
        ["sh", "-c", source],
        cwd=tmp_path,
        env={**env, "FAIL_ON": failing, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done.returncode, calls, tmp_path


def test_data_validate_forces_ingest_and_lists_the_partitions(tmp_path: Path) -> None:
    code, calls, root = run(tmp_path, "data", "validate")
    assert code == 0
    assert calls == [
        "dvc remote modify --local storage url s3://bucket/cache",
        "dvc pull --allow-missing --with-deps data_health",
        "dvc repro --force --single-item ingest",
        "dvc repro --single-item validate",
        "pipelines data partitions",
    ]
    outputs = _template("data", "validate")["outputs"]["parameters"]
    assert outputs == [{"name": "partitions", "valueFrom": {"path": "/tmp/partitions.json"}}]
    assert (root / "tmp-partitions.json").read_text().strip() == '["0/2", "1/2"]'


def test_data_publish_merges_pushes_records_and_leaves_the_lock(tmp_path: Path) -> None:
    code, calls, root = run(tmp_path, "data", "publish")
    assert code == 0
    assert calls[:2] == ["dvc repro data_health", "dvc push --with-deps data_health"]
    assert (
        calls[2]
        == "pipelines monitor mark --pipeline data --status success --started-at 1700000000"
    )
    outputs = _template("data", "publish")["outputs"]["parameters"]
    assert outputs == [{"name": "dvc-lock", "valueFrom": {"path": "/tmp/dvc.lock"}}]
    assert (root / "tmp-dvc.lock").read_text() == "schema: '2.0'\n"


def test_a_failed_publish_pushes_nothing_and_the_exit_handler_records_it(tmp_path: Path) -> None:
    code, calls, _ = run(tmp_path, "data", "publish", failing="dvc repro data_health")
    assert code == 1
    assert calls == ["dvc repro data_health"]
    handler = _template("data", "exit-handler")["steps"][0][0]
    assert handler["when"] == "{{workflow.status}} != Succeeded"
    (tmp_path / "handler").mkdir()
    code, calls, _ = run(tmp_path / "handler", "data", handler["template"])
    assert (code, calls) == (
        0,
        ["pipelines monitor mark --pipeline data --status failure --started-at 1700000000"],
    )


def test_the_fan_out_is_wired_to_what_it_uses() -> None:
    dag = _template("data", "data")
    tasks = {t["name"]: t for t in dag["dag"]["tasks"]}
    features = tasks["features"]
    assert features["withParam"] == "{{tasks.validate.outputs.parameters.partitions}}"
    assert features["depends"] == "validate" and tasks["publish"]["depends"] == "features"
    assert features["arguments"]["parameters"] == [{"name": "partition", "value": "{{item}}"}]
    pod = _template("data", features["template"])["container"]
    assert pod["command"] == ["pipelines"]
    args = [a.replace("{{inputs.parameters.partition}}", "1/3") for a in pod["args"]]
    parsed = build_parser().parse_args(args)
    assert (parsed.data_command, parsed.partition) == ("features", "1/3")
    workers = load_params(REPO_ROOT / "params.yaml").scale.data_workers
    assert dag["parallelism"] == workers, (
        f"deploy/argo/data.yaml: parallelism {dag['parallelism']} of the fan-out is not "
        f"params.yaml scale.data_workers {workers}"
    )


def test_training_study_creates_one_study_and_lists_its_shares(tmp_path: Path) -> None:
    code, calls, root = run(tmp_path, "training", "study")
    assert code == 0
    assert calls == [
        "dvc remote modify --local storage url s3://bucket/cache",
        "dvc pull --allow-missing",
        "dvc repro data_health",
        f"pipelines tune --create-study --journal {tmp_path}/optuna.journal",
    ]
    assert (root / "tmp-study").read_text().strip() == "tune-1"
    outputs = _template("training", "study")["outputs"]["parameters"]
    assert {p["name"]: p["valueFrom"]["path"] for p in outputs} == {
        "shares": "/tmp/shares.json",
        "study": "/tmp/study",
    }


def test_training_tuned_collects_commits_and_lists_the_split_workers(tmp_path: Path) -> None:
    code, calls, root = run(tmp_path, "training", "tuned")
    assert code == 0
    journal = f"--journal {tmp_path}/optuna.journal"
    assert calls == [
        "pipelines tune --collect {{inputs.parameters.study}} " + journal,
        "dvc commit --force tune",
        "pipelines train-splits --list",
    ]
    assert (root / "tmp-shares.json").read_text().strip() == '["0/2", "1/2"]'


def test_the_training_fan_outs_are_wired_to_what_they_use() -> None:
    tasks = {t["name"]: t for t in _template("training", "training")["dag"]["tasks"]}
    assert tasks["tune"]["withParam"] == "{{tasks.study.outputs.parameters.shares}}"
    assert tasks["splits"]["withParam"] == "{{tasks.tuned.outputs.parameters.shares}}"
    order = [tasks[n]["depends"] for n in ("study", "tune", "tuned", "splits", "publish")]
    assert order == ["checkout", "study", "tune", "tuned", "splits"]
    given = {p["name"]: p["value"] for p in tasks["tune"]["arguments"]["parameters"]}
    assert given == {
        "study": "{{item.study}}",
        "index": "{{item.index}}",
        "trials": "{{item.trials}}",
    }
    values = {"study": "tune-1", "index": "1", "trials": "7", "share": "1/2"}
    for task, command in (("tune", "tune-worker"), ("splits", "train-splits")):
        pod = _template("training", tasks[task]["template"])["container"]
        args = list(pod["args"])
        for key, value in values.items():
            args = [a.replace("{{inputs.parameters.%s}}" % key, value) for a in args]  # noqa: UP031
        assert pod["command"] == ["pipelines"] and args[0] == command
        build_parser().parse_args(args)  # the project's own CLI takes them
    assert tasks["tuned"]["arguments"]["parameters"] == [
        {"name": "study", "value": "{{tasks.study.outputs.parameters.study}}"}
    ]


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("data", "validate"),
        ("data", "publish"),
        ("data", "record-failure"),
        ("training", "study"),
        ("training", "tuned"),
        ("training", "publish"),
        ("training", "record-failure"),
    ],
)
def test_template_scripts_pass_shellcheck(name: str, template: str) -> None:
    shellcheck = require_tool("shellcheck")
    source, env = script(name, template)
    if "pipelines monitor mark" in source:
        assert env["PUSHGATEWAY_URL"] == "http://pushgateway.monitoring.svc:9091"
    done = subprocess.run(
        [shellcheck, "-s", "sh", "-"], input=source, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout
