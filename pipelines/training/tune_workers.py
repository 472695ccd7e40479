"""Tuning across worker processes that share one Optuna study.

Each worker is its own process (``pipelines tune-worker``), as each would be its own pod when
the cluster fans tuning out: it reads the inputs, joins the study by name and runs its share of
the budget. The study lives in shared storage: ``OPTUNA_STORAGE``, an RDB URL (on the platform
the PostgreSQL that MLflow uses: ``postgresql+psycopg2://user:password@host/optuna``) or
``journal:<path>`` (an Optuna journal file: one machine, several processes). The budget is split
exactly (worker k runs ``shares[k]`` trials), so the study ends with ``n_trials`` trials
whatever the number of workers, and the Deflated Sharpe Ratio counts every one of them. A study
with any other count is refused (fail closed).

With more than one worker, TPE suggests from whatever trials have finished, so the result
depends on timing: ``tuning.json`` is then not byte-reproducible (one worker is).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import Any

import optuna

from pipelines.errors import PipelineError
from pipelines.training.params import TuningParams
from pipelines.training.tune import WORST_SCORE, TuningResult, study_score

log = logging.getLogger(__name__)

STORAGE_ENV = "OPTUNA_STORAGE"
# A trial's own Sharpe (non-finite kept as None); the study's value is tune.study_score of it.
SHARPE_ATTR = "sharpe_per_bar"


class TuningError(PipelineError):
    """A shared study that cannot be used or does not hold exactly the budget."""


def shares(n_trials: int, workers: int) -> list[int]:
    """Split ``n_trials`` between ``workers`` as evenly as possible (every worker gets one)."""
    if not 1 <= workers <= n_trials:
        raise TuningError(f"tune: {workers} workers for {n_trials} trials (1 to n_trials)")
    base, extra = divmod(n_trials, workers)
    return [base + (1 if k < extra else 0) for k in range(workers)]


def storage_from_env() -> str | None:
    """``OPTUNA_STORAGE`` (an RDB URL or ``journal:<path>``), or None when unset or empty."""
    return os.environ.get(STORAGE_ENV, "").strip() or None


def describe(spec: str) -> str:
    """What the storage is, without credentials: ``journal`` or the URL's scheme."""
    return "journal" if spec.startswith("journal:") else spec.split(":", 1)[0].split("+", 1)[0]


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``spec`` (``journal:<path>`` or an RDB URL)."""
    if spec.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(spec.removeprefix("journal:")))
    try:
        return optuna.storages.RDBStorage(spec)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's errors name the cause
        raise TuningError(f"tune: {STORAGE_ENV} ({describe(spec)}): {exc}") from None


def create(spec: str, name: str, params: TuningParams) -> None:
    """Create the study (and an RDB's schema) once, before any worker joins it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(
        storage=open_storage(spec),
        study_name=name,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=params.seed),
    )


def work(
    objective: Callable[[dict[str, Any]], float],
    suggest: Callable[[optuna.Trial], dict[str, Any]],
    spec: str,
    name: str,
    params: TuningParams,
    index: int,
    trials: int,
) -> None:
    """Worker ``index``: join the study and run ``trials`` trials of ``objective``.

    Each worker's sampler has its own seed (``seed + index``): equal seeds would suggest the
    same first points in every worker.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=name,
        storage=open_storage(spec),
        sampler=optuna.samplers.TPESampler(seed=params.seed + index),
    )

    def run(trial: optuna.Trial) -> float:
        value = objective(suggest(trial))
        trial.set_user_attr(SHARPE_ATTR, value if math.isfinite(value) else None)
        log.info(
            "tune worker %d: trial %d sharpe/bar %.4f %s", index, trial.number, value, trial.params
        )
        return study_score(value)

    study.optimize(run, n_trials=trials)


def collect(spec: str, name: str, params: TuningParams) -> TuningResult:
    """The study's trials by number as a result; exactly ``params.n_trials``, all complete.

    Trial numbers are given in the order trials start, so they run 0 to ``n_trials - 1``.
    """
    budget = params.n_trials
    study = optuna.load_study(study_name=name, storage=open_storage(spec))
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(trials) != budget or len(done) != budget:
        raise TuningError(
            f"tune: study {name} holds {len(done)} complete of {len(trials)} trials, "
            f"expected exactly the budget of {budget}"
        )
    scores = [WORST_SCORE if t.value is None else float(t.value) for t in done]
    best = max(range(budget), key=lambda i: (scores[i], -i))
    sharpes = [t.user_attrs.get(SHARPE_ATTR) for t in done]
    return TuningResult(
        best_params=dict(done[best].params),
        best_value=scores[best],
        trial_values=[math.nan if s is None else float(s) for s in sharpes],
        n_trials=budget,
        trial_params=[dict(t.params) for t in done],
    )
