"""The baseline a candidate must beat in an environment.

The model deployed in ``environments/<env>/model.yaml`` is the baseline when it is compatible:
its bundle is available locally with the promised digest, it was trained for the same bar
frequency, and its features are all in the feature store. It is then evaluated on the same
out-of-sample rows, with the same costs. Otherwise the declared naive baseline is used: an
equal-weight long book over the same period (its PnL comes from the training stage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pipelines.errors import PipelineError
from pipelines.registry.bundle import ModelBundle, load_bundle, rule_positions
from pipelines.training import backtest, metrics

NAIVE = "naive_equal_weight_long"
MANIFEST = "manifest_model"


@dataclass(frozen=True)
class Baseline:
    """Which baseline was used, why, and its out-of-sample PnL (None when unknown)."""

    kind: str
    description: str
    total_pnl: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the gate report."""
        return {
            "kind": self.kind,
            "description": self.description,
            "total_pnl": self.total_pnl,
            "reason": self.reason,
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


def evaluate_bundle(
    bundle: ModelBundle,
    oos_features: pd.DataFrame,
    grid_returns: pd.DataFrame,
    cost: float,
) -> float:
    """Total PnL of a bundle's positions on the out-of-sample rows (same backtest as training).

    Args:
        bundle: The baseline model.
        oos_features: ``timestamp``, ``instrument`` and the bundle's features.
        grid_returns: Wide bar returns on the OOS time grid (columns: instruments).
        cost: Cost and slippage as a fraction of traded value.
    """
    preds = bundle.predict(oos_features)
    frame = oos_features[["timestamp", "instrument"]].assign(
        position=rule_positions(preds, bundle.objective, bundle.position_rule)
    )
    positions = backtest.to_wide(frame, "position", grid_returns.index, grid_returns.columns)
    weights = np.nan_to_num(positions) / positions.shape[1]
    result = backtest.simulate(weights, grid_returns.to_numpy(dtype="float64"), cost)
    return float(metrics.equity_curve(result.returns)[-1] - 1.0)


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
) -> tuple[Baseline, ModelBundle | None]:
    """Decide the baseline; return the manifest's bundle when it is the one to evaluate."""
    if manifest is None:
        return naive(naive_pnl, "no model deployed in the environment"), None
    label = f"{manifest.get('name')} v{manifest.get('version')}"
    artifact = manifest.get("artifact") or {}
    uri, digest = artifact.get("uri"), artifact.get("sha256")
    if not isinstance(uri, str) or "://" in uri or ":" in uri.split("/")[0]:
        return naive(naive_pnl, f"{label}: artifact {uri!r} is not a local path"), None
    path = repo_root / uri
    if not path.exists():
        return naive(naive_pnl, f"{label}: artifact {uri} not available locally"), None
    try:
        bundle = load_bundle(path, expected_sha256=digest)
    except PipelineError as exc:
        return naive(naive_pnl, f"{label}: {exc}"), None
    if bundle.frequency != frequency:
        return naive(naive_pnl, f"{label}: trained on {bundle.frequency} bars"), None
    missing = sorted(set(bundle.feature_names) - set(store_features))
    if missing:
        return naive(naive_pnl, f"{label}: features not in the store: {missing}"), None
    return Baseline(MANIFEST, label, None, "deployed model, compatible"), bundle
