"""Gate stage: write ``reports/gates/<env>.json`` and fail (exit 1) when a gate fails.

The DVC stage runs with ``report_only`` so that a failed gate does not break ``dvc repro``;
CI runs ``pipelines gate --env ENV``, which exits non-zero on a failed gate.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import Params
from pipelines.data.store import read_store
from pipelines.errors import GateFailed, PipelineError
from pipelines.io import atomic
from pipelines.io.gitinfo import git_commit
from pipelines.registry.bundle import load_bundle, rule_positions, sha256_file
from pipelines.training import backtest, baseline, gates

log = logging.getLogger(__name__)

ENVIRONMENTS = ("dev", "staging", "prod")


def _read_json(path: Path, what: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{path}: {what} is not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise PipelineError(f"{path}: {what} must be a JSON object")
    return value


def report_path(params: Params, env: str) -> Path:
    """Where an environment's gate report goes."""
    return Path(params.paths.reports) / "gates" / f"{env}.json"


def _compare(params: Params, deployed: Any, models: Path) -> baseline.Baseline | None:
    """The candidate against the deployed model on the period out of sample for both."""
    oos_path, bundle_path = models / "oos_predictions.parquet", models / "model_bundle.json"
    if not oos_path.exists() or not bundle_path.exists():
        return None
    oos = pd.read_parquet(oos_path)
    oos["instrument"] = oos["instrument"].astype(str)
    mine = load_bundle(bundle_path)
    positions = oos[["timestamp", "instrument"]].assign(
        position=rule_positions(oos["prediction"].to_numpy(), mine.objective, mine.position_rule)
    )
    store, _ = read_store(params.paths.features)
    store["instrument"] = store["instrument"].astype(str)
    rows = oos[["timestamp", "instrument"]].merge(store, on=["timestamp", "instrument"])
    returns = backtest.bar_returns(pd.read_parquet(params.paths.validated))
    returns.columns = returns.columns.astype(str)
    bt = params.training.backtest
    cost = (bt.cost_bps + bt.slippage_bps) / 10_000.0
    return baseline.compare_on_common_period(deployed, positions, rows, returns, cost)


def mlflow_fetcher(folder: Path) -> baseline.Fetch:
    """A fetch function that downloads a manifest's bundle from its recorded MLflow run."""

    def fetch(manifest: dict[str, Any]) -> Path | None:
        run_id = (manifest.get("provenance") or {}).get("mlflow_run_id")
        if not run_id:
            return None
        import mlflow

        from pipelines.registry.mlflow_log import BUNDLE_ARTIFACT, tracking_uri

        mlflow.set_tracking_uri(tracking_uri())
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=str(run_id), artifact_path=BUNDLE_ARTIFACT, dst_path=str(folder)
            )
        except Exception as exc:  # noqa: BLE001 - any MLflow failure means "not available"
            log.warning("gate: cannot fetch the deployed bundle of run %s: %s", run_id, exc)
            return None
        return Path(local)

    return fetch


def main(params: Params, envs: Sequence[str] = ENVIRONMENTS, report_only: bool = False) -> int:
    """Evaluate and write the gate reports of ``envs``.

    Raises:
        GateFailed: Some environment failed a gate (unless ``report_only``).
    """
    root = Path.cwd()
    models = Path(params.paths.models)
    metrics_path, bundle_path = models / "metrics.json", models / "model_bundle.json"
    metrics = _read_json(metrics_path, "metrics") or {}
    if not metrics:
        log.warning("gate: %s missing: every metric gate fails closed", metrics_path)
    store_meta = _read_json(Path(params.paths.features) / "_metadata.json", "store metadata")
    candidate = {
        "bundle": str(bundle_path),
        "sha256": sha256_file(bundle_path) if bundle_path.exists() else None,
        "git_commit": git_commit(root),
    }
    ci_status = _read_json(Path(params.gates.ci_status), "CI status")
    failed = []
    with tempfile.TemporaryDirectory(prefix="baseline-") as scratch:
        for env in envs:
            manifest = baseline.read_manifest_model(root / "environments" / env / "model.yaml")
            chosen, bundle = baseline.resolve(
                manifest,
                root,
                metrics.get("baseline_naive_pnl"),
                params.data.frequency,
                list((store_meta or {}).get("features", [])),
                fetch=mlflow_fetcher(Path(scratch)),
            )
            if bundle is not None:
                compared = _compare(params, bundle, models)
                if compared is None:
                    chosen = baseline.naive(
                        metrics.get("baseline_naive_pnl"),
                        f"{chosen.description}: no bar of the candidate's out-of-sample period is "
                        "out of sample for the deployed model too",
                    )
                else:
                    chosen = dataclasses.replace(compared, description=chosen.description)
            report = gates.evaluate(
                env,
                params.gates.for_env(env),
                metrics,
                chosen.as_dict(),
                candidate,
                ci_status,
                learned=params.gates.learned,
            )
            atomic.write_json(report_path(params, env), report)
            bad = [g["name"] for g in report["gates"] if g["verdict"] == "fail"]
            log.info("gate %s: %s %s", env, report["verdict"], f"(failed: {bad})" if bad else "")
            if report["verdict"] != "pass":
                failed.append(f"{env}: {', '.join(bad) or 'no gates'}")
    if failed and not report_only:
        raise GateFailed(f"gates failed ({'; '.join(failed)}); see {params.paths.reports}/gates/")
    return 0
