"""Slow: the training stages through DVC in a temporary copy, on the bundled data.

features -> tune -> train -> backtest -> gates -> card -> register, then the gate command's exit
codes, the MLflow tags, the candidate schema, DVC metrics, and a second run of the three training
stages giving the same tuning result, digest and metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest

from pipelines.data import events, reference
from pipelines.registry.bundle import load_bundle, sha256_file
from pipelines.registry.mlflow_log import candidate_schema
from pipelines.training.gates import report_schema

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true", DVC_NO_ANALYTICS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(args), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=400, check=False
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"{args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    root = tmp_path_factory.mktemp("e2e") / "repo"
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=repo_root, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = repo_root / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    wide = pd.read_csv(root / "data/sample/sp500_20_daily_close.csv.gz")
    bars = wide.melt(id_vars="Date", var_name="instrument", value_name="close").dropna()
    bars["timestamp"] = pd.to_datetime(bars.pop("Date"), utc=True)
    (root / "data/validated").mkdir(parents=True, exist_ok=True)
    bars[["timestamp", "instrument", "close"]].to_parquet(root / "data/validated/bars.parquet")
    # The features stage also reads the instrument master and the (empty) news events.
    master = root / "data/sample/instruments.csv"
    rows, _ = reference.parse_reference(master.name, master.read_bytes())
    recorded = pd.Timestamp("2024-01-01T00:00:00Z")
    reference.write(
        root / "data/reference",
        reference.merge(reference.read(root / "data/reference"), rows, recorded)[0],
    )
    (root / "data/ingested").mkdir(parents=True, exist_ok=True)
    events.empty().to_parquet(root / "data/ingested/events.parquet")
    for args in (["git", "init", "-q"], ["git", "add", "-A"]):
        _run(root, *args)
    _run(
        root, "git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "x"
    )
    _run(
        root,
        "dvc",
        "repro",
        "-s",
        "features",
        "tune",
        "train",
        "backtest",
        "gates",
        "card",
        "register",
    )
    return root


def test_outputs_are_written_and_valid(repo: Path) -> None:
    models = repo / "models"
    for name in (
        "tuning.json",
        "model_bundle.json",
        "training.json",
        "oos_predictions.parquet",
        "cpcv_positions.parquet",
        "metrics.json",
        "evaluation.json",
        "card.md",
        "card.json",
        "candidate.json",
    ):
        assert (models / name).exists(), name
    for png in ("equity", "drawdown", "cpcv_sharpe", "feature_importance"):
        assert (models / "plots" / f"{png}.png").stat().st_size > 1000
    candidate = json.loads((models / "candidate.json").read_text())
    jsonschema.validate(candidate, candidate_schema())
    sha = sha256_file(models / "model_bundle.json")
    assert candidate["artifact"]["sha256"] == sha
    bundle = load_bundle(models / "model_bundle.json", expected_sha256=sha)
    assert bundle.reference is not None and 0 < len(bundle.reference) <= 2000
    for env in ("dev", "staging", "prod"):
        report = json.loads((repo / "reports/gates" / f"{env}.json").read_text())
        jsonschema.validate(report, report_schema())
        assert report["candidate"]["sha256"] == sha
    staging = json.loads((repo / "reports/gates/staging.json").read_text())
    tests_gate = next(g for g in staging["gates"] if g["name"] == "tests_passed")
    assert tests_gate["verdict"] == "fail" and staging["verdict"] == "fail"


def test_mlflow_run_and_version_carry_the_digest(repo: Path) -> None:
    candidate: dict[str, Any] = json.loads((repo / "models/candidate.json").read_text())
    sha = candidate["artifact"]["sha256"]
    with sqlite3.connect(repo / "mlflow.db") as db:
        run_tag = db.execute(
            "select value from tags where run_uuid = ? and key = 'bundle_sha256'",
            (candidate["provenance"]["mlflow_run_id"],),
        ).fetchone()
        version_tag = db.execute(
            "select value from model_version_tags where name = ? and version = ? "
            "and key = 'bundle_sha256'",
            (candidate["model_name"], int(candidate["model_version"])),
        ).fetchone()
    assert run_tag == (sha,)
    assert version_tag == (sha,)


def test_gate_command_exit_codes(repo: Path) -> None:
    failed = _run(repo, "python", "-m", "pipelines", "gate", "--env", "prod", check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("error: gates failed (prod:")
    commit = _run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    status = repo / "reports/ci_status.json"
    status.write_text(json.dumps({"tests_passed": True, "commit": commit}))
    try:
        _run(
            repo,
            "python",
            "-m",
            "pipelines",
            "gate",
            "--env",
            "dev",
            "--env",
            "staging",
            check=False,
        )
        staging = json.loads((repo / "reports/gates/staging.json").read_text())
        tests_gate = next(g for g in staging["gates"] if g["name"] == "tests_passed")
        assert tests_gate["verdict"] == "pass"
    finally:
        status.unlink()


def test_deployed_model_trained_on_the_whole_period_is_not_compared_in_sample(repo: Path) -> None:
    # Deploy the candidate itself, its local file gone: the gate fetches it from MLflow by run
    # id, verifies its digest, and then refuses to score it on bars it was trained on.
    candidate = json.loads((repo / "models/candidate.json").read_text())
    manifest = repo / "environments/staging/model.yaml"
    original = manifest.read_text()
    entry = {
        "name": candidate["model_name"],
        "version": candidate["model_version"],
        "artifact": {"uri": "models/elsewhere.json", "sha256": candidate["artifact"]["sha256"]},
        "provenance": candidate["provenance"],
    }
    manifest.write_text(json.dumps({"environment": "staging", "model": entry}))
    try:
        _run(repo, "python", "-m", "pipelines", "gate", "--env", "staging", "--report-only")
    finally:
        manifest.write_text(original)
    chosen = json.loads((repo / "reports/gates/staging.json").read_text())["baseline"]
    assert chosen["kind"] == "naive_equal_weight_long", chosen
    assert chosen["reason"].startswith(f"{candidate['model_name']} v{candidate['model_version']}")
    assert "out of sample for the deployed model too" in chosen["reason"]


def test_dvc_metrics_are_declared(repo: Path) -> None:
    shown = json.loads(_run(repo, "dvc", "metrics", "show", "--json").stdout)
    text = json.dumps(shown)
    assert "sharpe" in text and "max_drawdown" in text


def test_second_training_run_gives_the_same_digest(repo: Path) -> None:
    models = repo / "models"
    before = sha256_file(models / "model_bundle.json")
    tuning = (models / "tuning.json").read_text()
    metrics = (models / "metrics.json").read_text()
    evaluation = (models / "evaluation.json").read_text()
    for stage in ("tune", "train", "backtest"):
        _run(repo, "python", "-m", "pipelines", stage)
    assert (models / "tuning.json").read_text() == tuning
    assert sha256_file(models / "model_bundle.json") == before
    assert (models / "metrics.json").read_text() == metrics
    assert (models / "evaluation.json").read_text() == evaluation
