"""Training sub-commands: ``pipelines tune|train|backtest|gate|card|register|record-ci``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipelines.config import load_params

ENVIRONMENTS = ("dev", "staging", "prod")


def _tune(args: argparse.Namespace) -> int:
    from pipelines.training import tune

    params = load_params(args.params)
    if args.create_study:
        from pipelines.training import tune_shared

        shares = tune_shared.start(params, args.journal)
        sys.stdout.write(json.dumps(shares) + "\n")
        return 0
    return tune.main(params, params_path=args.params, collect=args.collect, journal=args.journal)


def _tune_worker(args: argparse.Namespace) -> int:
    from pipelines.training import tune_shared

    params = load_params(args.params)
    return tune_shared.worker_main(params, args.study, args.index, args.trials, args.journal)


def _train(args: argparse.Namespace) -> int:
    from pipelines.training import train

    return train.main(load_params(args.params), Path(args.params))


def _train_splits(args: argparse.Namespace) -> int:
    from pipelines.training import cv_splits

    params = load_params(args.params)
    if args.list:
        from pipelines.data.partitions import all_of

        sys.stdout.write(json.dumps(all_of(params.scale.cv_workers)) + "\n")
        return 0
    return cv_splits.worker_main(params, args.worker)


def _backtest(args: argparse.Namespace) -> int:
    from pipelines.training import backtest_stage

    return backtest_stage.main(load_params(args.params))


def _gate(args: argparse.Namespace) -> int:
    from pipelines.training import gate_stage

    envs = args.env or list(ENVIRONMENTS)
    return gate_stage.main(load_params(args.params), envs, report_only=args.report_only)


def _card(args: argparse.Namespace) -> int:
    from pipelines.training import card

    return card.main(load_params(args.params))


def _register(args: argparse.Namespace) -> int:
    from pipelines.registry import mlflow_log

    return mlflow_log.main(load_params(args.params))


def _record_ci(args: argparse.Namespace) -> int:
    from pipelines.training import ci_status

    return ci_status.main(load_params(args.params), args.status == "passed", args.commit)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the training commands to the top-level parser."""
    tune = commands.add_parser(
        "tune",
        help="Optuna (seeded TPE, fixed budget) over a purged validation block before the first "
        "out-of-sample bar; write models/tuning.json",
    )
    mode = tune.add_mutually_exclusive_group()
    mode.add_argument(
        "--create-study",
        action="store_true",
        help="only create a shared study and print each worker's share as JSON "
        '([{"study", "index", "trials"}]: the cluster\'s fan-out of tune-worker pods)',
    )
    mode.add_argument(
        "--collect",
        metavar="STUDY",
        default=None,
        help="write models/tuning.json from STUDY, whose workers already ran (exactly the "
        "trial budget, or refused)",
    )
    tune.add_argument(
        "--journal",
        default=None,
        help="with --create-study/--collect: a journal file as the study's storage when "
        "OPTUNA_STORAGE is not set (a volume every worker mounts)",
    )
    tune.set_defaults(handler=_tune)

    worker = commands.add_parser(
        "tune-worker",
        help="join a shared tuning study (OPTUNA_STORAGE) and run a share of its trials; "
        "`pipelines tune` starts these when training.tuning.workers is above 1",
    )
    worker.add_argument("--study", required=True, help="the study's name (made by tune)")
    worker.add_argument("--index", type=int, required=True, help="this worker's number, from 0")
    worker.add_argument("--trials", type=int, required=True, help="how many trials to run")
    worker.add_argument(
        "--journal", default=None, help="the study's journal file when OPTUNA_STORAGE is not set"
    )
    worker.set_defaults(handler=_tune_worker)

    train = commands.add_parser(
        "train",
        help="with the tuned params: purged walk-forward + CPCV predictions, leakage checks, "
        "final model; write the model bundle and the out-of-sample positions",
    )
    train.set_defaults(handler=_train)

    split_worker = commands.add_parser(
        "train-splits",
        help="train every W-th CV split (walk-forward, then CPCV) from K and leave its "
        "predictions in scale.cv_cache; `pipelines train` starts these when scale.cv_workers "
        "is above 1",
    )
    share = split_worker.add_mutually_exclusive_group(required=True)
    share.add_argument("--worker", metavar="K/W", help="this worker's share: K of W workers")
    share.add_argument(
        "--list",
        action="store_true",
        help="print the workers' shares as JSON (scale.cv_workers of them; Argo's withParam)",
    )
    split_worker.set_defaults(handler=_train_splits)

    backtest = commands.add_parser(
        "backtest",
        help="backtest the out-of-sample positions (costs, slippage, next bar); write "
        "models/metrics.json, evaluation.json and plots/equity.csv",
    )
    backtest.set_defaults(handler=_backtest)

    gate = commands.add_parser(
        "gate",
        help="evaluate the promotion gates, write reports/gates/<env>.json; exit 1 on a failure",
    )
    gate.add_argument(
        "--env",
        action="append",
        choices=ENVIRONMENTS,
        help="environment to gate (repeatable; default: all)",
    )
    gate.add_argument(
        "--report-only",
        action="store_true",
        help="write the reports and exit 0 even when a gate fails (the DVC stage uses this)",
    )
    gate.set_defaults(handler=_gate)

    card = commands.add_parser(
        "card", help="write the model card (Markdown + JSON) and its PNG plots under models/"
    )
    card.set_defaults(handler=_card)

    reg = commands.add_parser(
        "register",
        help="log the run to MLflow, register a model version, write models/candidate.json",
    )
    reg.set_defaults(handler=_register)

    record = commands.add_parser(
        "record-ci",
        help="record CI's test outcome for a commit (read by the tests_passed gate)",
    )
    record.add_argument("--status", required=True, choices=("passed", "failed"))
    record.add_argument("--commit", default=None, help="tested commit (default: git HEAD)")
    record.set_defaults(handler=_record_ci)
