"""The tune stage with several workers: start them, wait, and write what the study holds.

``run`` creates the study, starts one ``pipelines tune-worker`` process per worker (the same
command the cluster's training template fans out as pods) with ``OPTUNA_STORAGE`` naming the
study's storage, waits for all of them, and turns the study's trials into the ``tuning.json``
payload the single-process stage writes, plus ``workers`` and ``storage``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from pipelines.config import Params
from pipelines.training import tune, tune_workers
from pipelines.training.inputs import prepare, read_inputs

log = logging.getLogger(__name__)


def storage(journal: str | Path | None, command: str) -> str:
    """``OPTUNA_STORAGE``, else ``journal:<journal>``; an error naming both when neither is given.

    Raises:
        TuningError: Neither is given.
    """
    spec = tune_workers.storage_from_env()
    if spec is None and journal:
        spec = f"journal:{journal}"
    if spec is None:
        raise tune_workers.TuningError(
            f"{command}: {tune_workers.STORAGE_ENV} is not set (the shared study's storage) "
            "and no --journal file was given"
        )
    return spec


def start(params: Params, journal: str | Path | None) -> list[dict[str, Any]]:
    """``pipelines tune --create-study``: a new study; each worker's share, for a fan-out.

    Returns:
        ``{"study", "index", "trials"}`` per worker (``training.tuning.workers`` of them).
    """
    tp = params.training.tuning
    spec = storage(journal, "tune --create-study")
    study = f"tune-{uuid.uuid4().hex[:12]}"
    tune_workers.create(spec, study, tp)
    shares = tune_workers.shares(tp.n_trials, tp.workers)
    log.info(
        "tune: study %s (%s), trials per worker %s", study, tune_workers.describe(spec), shares
    )
    return [{"study": study, "index": k, "trials": n} for k, n in enumerate(shares)]


def finish(params: Params, study: str, journal: str | Path | None) -> dict[str, Any]:
    """``pipelines tune --collect``: the ``tuning.json`` payload of a study the workers ran."""
    tp = params.training.tuning
    spec = storage(journal, "tune --collect")
    result = tune_workers.collect(spec, study, tp)
    return {
        **tune.payload(result, tp.seed),
        "workers": tp.workers,
        "storage": tune_workers.describe(spec),
    }


def worker_main(
    params: Params, study: str, index: int, trials: int, journal: str | Path | None = None
) -> int:
    """``pipelines tune-worker``: read the inputs, join ``study``, run ``trials`` trials."""
    spec = storage(journal, "tune-worker")
    prep = prepare(*read_inputs(params), params)
    tp = params.training.tuning
    tune_workers.work(
        tune.tuning_objective(prep, params), tune.suggest, spec, study, tp, index, trials
    )
    log.info("tune worker %d: %d trials of study %s done", index, trials, study)
    return 0


def _start_workers(
    params_path: Path, spec: str, study: str, shares: list[int]
) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, tune_workers.STORAGE_ENV: spec}
    return [
        subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "pipelines",
                "--params",
                str(params_path),
                "tune-worker",
                "--study",
                study,
                "--index",
                str(index),
                "--trials",
                str(trials),
            ],
            env=env,
        )
        for index, trials in enumerate(shares)
    ]


def _wait(workers: list[subprocess.Popen[bytes]]) -> None:
    """Wait for every worker; on the first failure stop the others and name it."""
    pending = dict(enumerate(workers))
    try:
        while pending:
            for index, proc in list(pending.items()):
                try:
                    code = proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    continue
                del pending[index]
                if code != 0:
                    raise tune_workers.TuningError(f"tune: worker {index} exited with {code}")
    finally:
        for proc in pending.values():
            proc.terminate()
        for proc in pending.values():
            proc.wait()


def run(params: Params, params_path: Path) -> dict[str, Any]:
    """Tune with ``training.tuning.workers`` processes on one shared study; the payload."""
    tp = params.training.tuning
    shares = tune_workers.shares(tp.n_trials, tp.workers)
    study = f"tune-{uuid.uuid4().hex[:12]}"
    scratch = None
    spec = tune_workers.storage_from_env()
    if spec is None:  # one machine: a journal file that lives as long as this run
        scratch = Path(tempfile.mkdtemp(prefix="tune-"))
        spec = f"journal:{scratch / 'study.journal'}"
    try:
        tune_workers.create(spec, study, tp)
        log.info(
            "tune: study %s (%s), trials per worker %s", study, tune_workers.describe(spec), shares
        )
        _wait(_start_workers(params_path, spec, study, shares))
        result = tune_workers.collect(spec, study, tp)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return {
        **tune.payload(result, tp.seed),
        "workers": tp.workers,
        "storage": tune_workers.describe(spec),
    }
