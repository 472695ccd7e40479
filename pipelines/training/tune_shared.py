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
import tempfile
import uuid
from pathlib import Path
from typing import Any

from pipelines.config import Params
from pipelines.io.workers import pipelines_argv
from pipelines.training import tune, tune_workers
from pipelines.training.inputs import prepare, read_inputs
from pipelines.training.params import TuningParams

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


def _create(spec: str, params: TuningParams) -> tuple[str, list[int]]:
    """A new study in ``spec``; its name and each worker's number of trials."""
    study = f"tune-{uuid.uuid4().hex[:12]}"
    tune_workers.create(spec, study, params)
    shares = tune_workers.shares(params.n_trials, params.workers)
    log.info(
        "tune: study %s (%s), trials per worker %s", study, tune_workers.describe(spec), shares
    )
    return study, shares


def _payload(spec: str, study: str, params: TuningParams) -> dict[str, Any]:
    """The ``tuning.json`` payload of a study whose workers ran, with its workers and storage."""
    result = tune_workers.collect(spec, study, params)
    return {
        **tune.payload(result, params.seed),
        "workers": params.workers,
        "storage": tune_workers.describe(spec),
    }


def start(params: Params, journal: str | Path | None) -> list[dict[str, Any]]:
    """``pipelines tune --create-study``: a new study; each worker's share, for a fan-out.

    Returns:
        ``{"study", "index", "trials"}`` per worker (``training.tuning.workers`` of them).
    """
    study, shares = _create(storage(journal, "tune --create-study"), params.training.tuning)
    return [{"study": study, "index": k, "trials": n} for k, n in enumerate(shares)]


def finish(params: Params, study: str, journal: str | Path | None) -> dict[str, Any]:
    """``pipelines tune --collect``: the ``tuning.json`` payload of a study the workers ran."""
    return _payload(storage(journal, "tune --collect"), study, params.training.tuning)


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
            pipelines_argv(
                params_path,
                "tune-worker",
                "--study",
                study,
                "--index",
                str(index),
                "--trials",
                str(trials),
            ),
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
    scratch = None
    spec = tune_workers.storage_from_env()
    if spec is None:  # one machine: a journal file that lives as long as this run
        scratch = Path(tempfile.mkdtemp(prefix="tune-"))
        spec = f"journal:{scratch / 'study.journal'}"
    try:
        study, shares = _create(spec, tp)
        _wait(_start_workers(params_path, spec, study, shares))
        return _payload(spec, study, tp)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
