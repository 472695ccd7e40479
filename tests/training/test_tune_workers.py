"""Tuning across workers: the budget split exactly, one shared study, every trial in the DSR.

The shared-study runs go through the real command (``pipelines tune`` starting ``pipelines
tune-worker`` processes) on the synthetic data written as the stages' files, once on a fresh
PostgreSQL server (the platform's storage) and once on the one-machine journal file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from pipelines.config import parse_params
from pipelines.errors import ConfigError
from pipelines.training import backtest_stage, metrics, train, tune_workers
from tests.training.conftest import FAST_TRAINING, write_stage_inputs

BUDGET = 4


def test_the_budget_is_split_exactly_and_every_worker_runs_a_trial() -> None:
    assert tune_workers.shares(20, 3) == [7, 7, 6]
    assert tune_workers.shares(4, 4) == [1, 1, 1, 1]
    assert sum(tune_workers.shares(45, 8)) == 45
    with pytest.raises(tune_workers.TuningError, match="5 workers for 4 trials"):
        tune_workers.shares(4, 5)
    with pytest.raises((ConfigError, ValueError), match="must not exceed n_trials"):
        parse_params({"training": {"tuning": {"n_trials": 3, "workers": 4}}})


def test_a_study_without_exactly_the_budget_is_refused(tmp_path: Path) -> None:
    spec = f"journal:{tmp_path / 'study.journal'}"
    params = parse_params({"training": {"tuning": {"n_trials": 3}}}).training.tuning
    tune_workers.create(spec, "short", params)
    tune_workers.work(lambda p: float(p["x"]), _toy, spec, "short", params, 0, 2)
    with pytest.raises(tune_workers.TuningError, match="2 complete of 2 trials.*budget of 3"):
        tune_workers.collect(spec, "short", params)
    two = parse_params({"training": {"tuning": {"n_trials": 2}}}).training.tuning
    result = tune_workers.collect(spec, "short", two)
    assert result.n_trials == 2 and len(result.trial_values) == 2
    assert result.best_value == max(result.trial_values)
    assert result.best_params == result.trial_params[int(np.argmax(result.trial_values))]


def _toy(trial: optuna.Trial) -> dict[str, Any]:
    return {"x": trial.suggest_float("x", 0.0, 1.0)}


def _stage_files(root: Path, data: dict[str, Any], workers: int) -> Path:
    """The tune stage's inputs as files, and a params file naming them."""
    training = {**FAST_TRAINING, "tuning": {"n_trials": BUDGET, "workers": workers}}
    return write_stage_inputs(root, data, training=training)


def _pipelines(root: Path, storage: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pipelines ARGS`` in ``root``, with ``OPTUNA_STORAGE`` only when given."""
    env = {k: v for k, v in os.environ.items() if k != tune_workers.STORAGE_ENV}
    if storage is not None:
        env[tune_workers.STORAGE_ENV] = storage
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _tune(root: Path, params: Path, storage: str | None) -> dict[str, Any]:
    done = _pipelines(root, storage, "--params", str(params), "tune")
    assert done.returncode == 0, done.stderr[-3000:]
    payload: dict[str, Any] = json.loads((root / "models" / "tuning.json").read_text())
    return payload


@pytest.mark.slow
def test_two_workers_on_a_shared_postgresql_study_record_the_budget_and_the_dsr_counts_it(
    tmp_path: Path, synthetic: dict[str, Any], postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = postgres.replace("postgresql://", "postgresql+psycopg2://", 1).rsplit("/", 1)[0]
    storage = f"{server}/postgres"
    payload = _tune(tmp_path, _stage_files(tmp_path, synthetic, workers=2), storage)

    assert (payload["n_trials"], payload["workers"], payload["storage"]) == (
        BUDGET,
        2,
        "postgresql",
    )
    assert [t["number"] for t in payload["trials"]] == list(range(BUDGET))
    assert "@" not in json.dumps(payload), "no credentials in tuning.json"
    (study,) = optuna.study.get_all_study_summaries(storage=storage)
    assert study.n_trials == BUDGET  # every trial of both workers is in the one shared study
    best = max(payload["trials"], key=lambda t: -1e9 if t["value"] is None else t["value"])
    assert payload["best_params"] == best["params"]

    # The DSR downstream deflates by exactly that budget, with every trial's Sharpe.
    seen: list[tuple[np.ndarray, int]] = []
    real = metrics.deflated_sharpe

    def spy(returns: np.ndarray, trial_sharpes: np.ndarray, n_trials: int) -> float:
        seen.append((np.asarray(trial_sharpes), n_trials))
        return real(returns, trial_sharpes, n_trials)

    monkeypatch.setattr(backtest_stage.metrics, "deflated_sharpe", spy)
    frames = (synthetic["store"], synthetic["metadata"], synthetic["labels"], synthetic["bars"])
    params = synthetic["params"]
    trained = train.run(*frames, params, payload)
    report = json.loads(json.dumps(trained.report))
    tested = backtest_stage.run(
        trained.oos, trained.cpcv, synthetic["bars"], report, payload, params
    )
    want = [np.nan if t["value"] is None else t["value"] for t in payload["trials"]]
    ((trial_sharpes, n_trials),) = seen
    assert n_trials == tested.metrics["n_trials"] == BUDGET
    np.testing.assert_array_equal(trial_sharpes, np.asarray(want, dtype="float64"))


@pytest.mark.slow
def test_without_a_storage_the_workers_share_a_journal_file(
    tmp_path: Path, synthetic: dict[str, Any]
) -> None:
    payload = _tune(tmp_path, _stage_files(tmp_path, synthetic, workers=2), None)
    assert (payload["n_trials"], payload["storage"]) == (BUDGET, "journal")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tuning.json"]


def test_a_worker_without_the_storage_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("{}\n")
    args = ("tune-worker", "--study", "s", "--index", "0", "--trials", "1")
    done = _pipelines(tmp_path, None, *args)
    assert done.returncode != 0
    assert "OPTUNA_STORAGE is not set" in done.stderr


@pytest.mark.slow
def test_the_clusters_fan_out_create_workers_then_collect(
    tmp_path: Path, synthetic: dict[str, Any]
) -> None:
    """The training template's steps: create the study, one pod per share, collect."""
    params = str(_stage_files(tmp_path, synthetic, workers=2))
    journal = str(tmp_path / "shared-volume" / "optuna.journal")
    (tmp_path / "shared-volume").mkdir()
    created = _pipelines(
        tmp_path, None, "--params", params, "tune", "--create-study", "--journal", journal
    )
    assert created.returncode == 0, created.stderr[-2000:]
    shares = json.loads(created.stdout)
    assert [(s["index"], s["trials"]) for s in shares] == [(0, 2), (1, 2)]
    assert len({s["study"] for s in shares}) == 1
    for share in shares:
        argv = ["--study", share["study"], "--index", str(share["index"])]
        argv += ["--trials", str(share["trials"]), "--journal", journal]
        done = _pipelines(tmp_path, None, "--params", params, "tune-worker", *argv)
        assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "models" / "tuning.json").exists()

    collected = _pipelines(
        tmp_path,
        None,
        "--params",
        params,
        "tune",
        "--collect",
        shares[0]["study"],
        "--journal",
        journal,
    )

    assert collected.returncode == 0, collected.stderr[-2000:]
    payload = json.loads((tmp_path / "models" / "tuning.json").read_text())
    assert (payload["n_trials"], payload["workers"], payload["storage"]) == (BUDGET, 2, "journal")
    assert [t["number"] for t in payload["trials"]] == list(range(BUDGET))


def test_creating_a_study_without_a_storage_fails_naming_both(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("{}\n")
    done = _pipelines(tmp_path, None, "tune", "--create-study")
    assert done.returncode != 0
    assert "OPTUNA_STORAGE is not set (the shared study's storage) and no --journal" in done.stderr
