"""The model bundle: the one deployable file that a manifest names and digests.

A bundle is a JSON file holding the LightGBM model text and everything needed to use it the same
way online and offline: the feature names and feature params (windows), the label horizon, the
bar frequency, the objective and the position rule, plus a small reference sample of training
features for drift monitoring. Its sha256 is what manifests, MLflow and the service compare.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from pipelines.data.params import FeatureParams
from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.io.digest import file_sha256

if TYPE_CHECKING:  # LightGBM (with scikit-learn, 1.2 s) only where a booster is loaded:
    import lightgbm as lgb  # verifying an artifact's digest or recording a run needs neither

BUNDLE_FORMAT = 1
Objective = Literal["binary", "regression"]


class DigestMismatch(PipelineError):
    """The file's sha256 is not the one the manifest promised: the model is refused."""


@dataclass(frozen=True)
class PositionRule:
    """How a prediction becomes a target position in {-1, 0, 1}.

    For ``binary`` models the prediction is P(up): long above ``0.5 + threshold``, short below
    ``0.5 - threshold`` (flat instead when ``long_only``), flat in between. For ``regression``
    models the prediction is the expected forward return and ``threshold`` is in return units.
    """

    threshold: float = 0.0
    long_only: bool = False


def rule_positions(predictions: np.ndarray, objective: Objective, rule: PositionRule) -> np.ndarray:
    """Target positions in {-1, 0, 1} from raw predictions (shared by backtest and service)."""
    centre = 0.5 if objective == "binary" else 0.0
    edge = np.asarray(predictions, dtype="float64") - centre
    pos = np.where(edge > rule.threshold, 1.0, np.where(edge < -rule.threshold, -1.0, 0.0))
    if rule.long_only:
        pos = np.maximum(pos, 0.0)
    return np.where(np.isfinite(edge), pos, 0.0)


@dataclass(frozen=True)
class ModelBundle:
    """A loaded bundle: the booster plus how to feed it and read its output."""

    booster: lgb.Booster
    feature_names: list[str]
    feature_params: FeatureParams
    objective: Objective
    label_horizon: int
    frequency: str
    position_rule: PositionRule
    metadata: dict[str, Any] = field(default_factory=dict)
    reference: pd.DataFrame | None = None

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Raw model output for rows of features (P(up) or expected return)."""
        matrix = features[self.feature_names].to_numpy(dtype="float64")
        return np.asarray(self.booster.predict(matrix), dtype="float64")

    def positions(self, predictions: np.ndarray) -> np.ndarray:
        """Target positions in {-1, 0, 1} from raw predictions (see :class:`PositionRule`)."""
        return rule_positions(predictions, self.objective, self.position_rule)

    def confidence(self, predictions: np.ndarray) -> np.ndarray:
        """Confidence in 0..1: distance of P(up) from 0.5, doubled (binary models)."""
        if self.objective == "binary":
            return np.clip(np.abs(predictions - 0.5) * 2.0, 0.0, 1.0)
        return np.clip(np.abs(predictions) / (np.abs(predictions).max() or 1.0), 0.0, 1.0)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file (the digest manifests and MLflow tags record)."""
    return file_sha256(path)


def bundle_payload(
    booster: lgb.Booster,
    feature_names: list[str],
    feature_params: FeatureParams,
    objective: Objective,
    label_horizon: int,
    frequency: str,
    position_rule: PositionRule,
    metadata: dict[str, Any] | None = None,
    reference: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Build the JSON payload of a bundle (deterministic for the same inputs)."""
    ref = None
    if reference is not None:
        ref = {c: [None if pd.isna(v) else float(v) for v in reference[c]] for c in feature_names}
    return {
        "format": BUNDLE_FORMAT,
        "feature_names": list(feature_names),
        "feature_params": feature_params.model_dump(),
        "objective": objective,
        "label_horizon": label_horizon,
        "frequency": frequency,
        "position_rule": {
            "threshold": position_rule.threshold,
            "long_only": position_rule.long_only,
        },
        "metadata": metadata or {},
        "reference": ref,
        "lightgbm_model": booster.model_to_string(),
    }


def save_bundle(payload: dict[str, Any], path: str | Path) -> str:
    """Write a bundle atomically; return its sha256."""
    atomic.write_text(path, json.dumps(payload, sort_keys=True, separators=(",", ":")))
    return sha256_file(path)


def load_bundle(path: str | Path, expected_sha256: str | None = None) -> ModelBundle:
    """Load a bundle, refusing it when its sha256 differs from ``expected_sha256``.

    Args:
        path: The bundle file.
        expected_sha256: The digest a manifest promised; None skips the check (offline use).

    Raises:
        DigestMismatch: The file is not the one promised.
        PipelineError: The file is missing or not a bundle.
    """
    file = Path(path)
    if not file.exists():
        raise PipelineError(f"{file}: model bundle not found")
    if expected_sha256 is not None:
        actual = sha256_file(file)
        if actual != expected_sha256:
            raise DigestMismatch(
                f"{file}: sha256 {actual} does not match the manifest's {expected_sha256}"
            )
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        import lightgbm as lgb

        booster = lgb.Booster(model_str=raw["lightgbm_model"])
        reference = (
            pd.DataFrame(raw["reference"], dtype="float64") if raw.get("reference") else None
        )
        return ModelBundle(
            booster=booster,
            feature_names=list(raw["feature_names"]),
            feature_params=FeatureParams(**raw["feature_params"]),
            objective=raw["objective"],
            label_horizon=int(raw["label_horizon"]),
            frequency=str(raw["frequency"]),
            position_rule=PositionRule(**raw["position_rule"]),
            metadata=dict(raw.get("metadata") or {}),
            reference=reference,
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{file}: not a model bundle ({exc})") from None
