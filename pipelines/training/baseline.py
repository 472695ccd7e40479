"""The baseline a candidate must beat in an environment.

The model deployed in ``environments/<env>/model.yaml`` is the baseline when it is compatible:
its bundle is available (locally, or from its MLflow run) with the promised digest, it was trained
for the same bar frequency, its features are all in the feature store, and the candidate's
out-of-sample period extends past the deployed model's training span. Both are then compared on
that period only (out of sample for both, after a label-horizon gap), with the same backtest and
costs: evaluating the deployed model on bars it was trained on would flatter it. Otherwise the
declared naive baseline is used: an equal-weight long book over the candidate's whole
out-of-sample period (its PnL comes from the training stage).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pipelines.errors import PipelineError
from pipelines.registry.bundle import ModelBundle, load_bundle, rule_positions
from pipelines.training import backtest, metrics

Fetch = Callable[[dict[str, Any]], Path | None]
NAIVE = "naive_equal_weight_long"
MANIFEST = "manifest_model"


@dataclass(frozen=True)
class Baseline:
    """Which baseline was used, why, and its out-of-sample PnL (None when unknown).

    ``candidate_pnl`` and ``period`` are set when the comparison is on a sub-period: the PnL gate
    then uses the candidate's PnL on that period instead of its headline PnL.
    """

    kind: str
    description: str
    total_pnl: float | None
    reason: str
    candidate_pnl: float | None = None
    period: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the gate report."""
        return {
            "kind": self.kind,
            "description": self.description,
            "total_pnl": self.total_pnl,
            "reason": self.reason,
            "candidate_pnl": self.candidate_pnl,
            "period": self.period,
        }


def read_manifest_model(path: Path) -> dict[str, Any] | None:
    """The ``model`` entry of a manifest (None when nothing is deployed or no manifest)."""
    if not path.exists():
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise PipelineError(f"{path}: not valid YAML") from None
    model = raw.get("model") if isinstance(raw, dict) else None
    if model is not None and not isinstance(model, dict):
        raise PipelineError(f"{path}: 'model' must be a mapping or null")
    return model


def _pnl(positions: pd.DataFrame, grid: pd.DataFrame, cost: float) -> float:
    wide = backtest.to_wide(positions, "position", grid.index, grid.columns)
    weights = np.nan_to_num(wide) / wide.shape[1]
    result = backtest.simulate(weights, grid.to_numpy(dtype="float64"), cost)
    return float(metrics.equity_curve(result.returns)[-1] - 1.0)


def compare_on_common_period(
    bundle: ModelBundle,
    candidate_positions: pd.DataFrame,
    oos_features: pd.DataFrame,
    returns: pd.DataFrame,
    cost: float,
) -> Baseline | None:
    """Candidate vs deployed model on the bars out of sample for both.

    Args:
        bundle: The deployed model; its metadata's ``train_span`` says what it was trained on.
        candidate_positions: ``timestamp``, ``instrument``, ``position`` of the candidate's
            walk-forward out-of-sample predictions.
        oos_features: The same rows with the deployed model's features.
        returns: Wide bar returns (timestamp x instrument).
        cost: Cost and slippage as a fraction of traded value.

    Returns:
        The baseline with both PnLs, or None when no bar is out of sample for both.
    """
    span = bundle.metadata.get("train_span")
    if not span:
        return None
    trained_to = pd.Timestamp(span[1])
    times = pd.DatetimeIndex(sorted(candidate_positions["timestamp"].unique()))
    times = times[times > trained_to][bundle.label_horizon :]
    if len(times) < 2:
        return None
    grid = returns.reindex(index=times, columns=sorted(candidate_positions["instrument"].unique()))
    rows = oos_features[oos_features["timestamp"].isin(times)]
    base = rows[["timestamp", "instrument"]].assign(
        position=rule_positions(bundle.predict(rows), bundle.objective, bundle.position_rule)
    )
    mine = candidate_positions[candidate_positions["timestamp"].isin(times)]
    return Baseline(
        MANIFEST,
        "",
        _pnl(base, grid, cost),
        "deployed model, compatible",
        candidate_pnl=_pnl(mine, grid, cost),
        period=f"{times[0]} .. {times[-1]}",
    )


def naive(total_pnl: float | None, reason: str) -> Baseline:
    """The declared naive baseline."""
    value = total_pnl if total_pnl is not None and math.isfinite(total_pnl) else None
    return Baseline(
        NAIVE,
        "equal-weight long book of every instrument, rebalanced each bar, same period and costs",
        value,
        reason,
    )


def resolve(
    manifest: dict[str, Any] | None,
    repo_root: Path,
    naive_pnl: float | None,
    frequency: str,
    store_features: list[str],
    fetch: Fetch | None = None,
) -> tuple[Baseline, ModelBundle | None]:
    """Decide the baseline; return the manifest's bundle when it is the one to evaluate.

    Args:
        manifest: The manifest's ``model`` entry (None: nothing deployed).
        repo_root: Where a relative artifact URI is looked up.
        naive_pnl: PnL of the naive baseline on the same period (from training).
        frequency: Bar frequency of the candidate.
        store_features: Features available in the store.
        fetch: Fallback that fetches the deployed bundle (e.g. from the MLflow run recorded in
            the manifest) when the local file is missing or is another model's.
    """
    if manifest is None:
        return naive(naive_pnl, "no model deployed in the environment"), None
    label = f"{manifest.get('name')} v{manifest.get('version')}"
    artifact = manifest.get("artifact") or {}
    uri, digest = artifact.get("uri"), artifact.get("sha256")
    candidates = []
    if isinstance(uri, str) and "://" not in uri and (repo_root / uri).exists():
        candidates.append(repo_root / uri)
    bundle, problem = None, f"artifact {uri!r} not available locally"
    for attempt in range(2):
        for path in candidates:
            try:
                bundle = load_bundle(path, expected_sha256=digest)
                break
            except PipelineError as exc:
                problem = str(exc)
        if bundle is not None or attempt == 1 or fetch is None:
            break
        fetched = fetch(manifest)
        candidates = [fetched] if fetched is not None else []
    if bundle is None:
        return naive(naive_pnl, f"{label}: {problem}"), None
    if bundle.frequency != frequency:
        return naive(naive_pnl, f"{label}: trained on {bundle.frequency} bars"), None
    missing = sorted(set(bundle.feature_names) - set(store_features))
    if missing:
        return naive(naive_pnl, f"{label}: features not in the store: {missing}"), None
    return Baseline(MANIFEST, label, None, "deployed model, compatible"), bundle
