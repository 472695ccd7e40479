"""Small synthetic market data and fast params for the training tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.config import Params, parse_params
from pipelines.data.features import compute_features, compute_labels
from pipelines.data.store import write_store
from pipelines.training import backtest_stage, train, tune
from pipelines.training.leakage import FeatureFn

FAST_TRAINING: dict[str, Any] = {
    "splits": {"walk_forward_folds": 3, "cpcv_groups": 4, "cpcv_test_groups": 2},
    "model": {"num_boost_round": 20, "early_stopping_rounds": 5, "min_data_in_leaf": 20},
    "tuning": {"n_trials": 3},
    "leakage": {"truncation_samples": 2},
    "reference_rows": 50,
}


def make_bars(n_days: int = 700, instruments: int = 4, seed: int = 0) -> pd.DataFrame:
    """Random-walk daily closes in long format with a weak, learnable momentum."""
    rng = np.random.default_rng(seed)
    stamps = pd.bdate_range("2015-01-01", periods=n_days, tz="UTC")
    frames = []
    for i in range(instruments):
        noise = rng.normal(0.0, 0.01, n_days)
        steps = np.zeros(n_days)
        for t in range(1, n_days):
            steps[t] = 0.1 * steps[t - 1] + noise[t]
        close = 50.0 * np.exp(np.cumsum(steps))
        frames.append(pd.DataFrame({"timestamp": stamps, "instrument": f"S{i}", "close": close}))
    return pd.concat(frames, ignore_index=True)


def write_stage_inputs(root: Path, data: dict[str, Any], **sections: Any) -> Path:
    """The training stages' inputs as files under ``root`` and a params file naming them.

    Args:
        root: An existing folder.
        data: The ``synthetic`` fixture's dict (store, metadata, labels, bars).
        sections: Further params.yaml sections (``training``, ``scale``, ...).

    Returns:
        The params file.
    """
    paths = {
        "features": str(root / "features"),
        "labels": str(root / "labels.parquet"),
        "validated": str(root / "bars.parquet"),
        "models": str(root / "models"),
    }
    write_store(data["store"], data["metadata"], paths["features"])
    data["labels"].to_parquet(paths["labels"])
    data["bars"].to_parquet(paths["validated"])
    (root / "models").mkdir()
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"paths": paths, **sections}))
    return params


def fast_params(**training: Any) -> Params:
    merged = {**FAST_TRAINING, **training}
    return parse_params({"training": merged})


@pytest.fixture(scope="session")
def synthetic() -> dict[str, Any]:
    params = fast_params()
    bars = make_bars()
    store = compute_features(bars, params.features)
    labels = compute_labels(bars, params.label)
    names = [c for c in store.columns if c not in ("timestamp", "instrument")]
    metadata = {
        "features": names,
        "label_horizon": params.label.horizon,
        "frequency": "daily",
        "input_sha256": "0" * 64,
        "annualisation": {"bars_per_year": 252.0, "derivation": "24/5 calendar (test)"},
    }
    return {"params": params, "bars": bars, "store": store, "labels": labels, "metadata": metadata}


@dataclass(frozen=True)
class Stages:
    """The outputs of tune -> train -> backtest, chained in memory as DVC chains their files."""

    tuning: dict[str, Any]
    trained: train.TrainingOutput
    backtested: backtest_stage.BacktestOutput

    @property
    def bundle(self) -> dict[str, Any]:
        return self.trained.bundle

    @property
    def metrics(self) -> dict[str, Any]:
        return self.backtested.metrics

    @property
    def evaluation(self) -> dict[str, Any]:
        return self.backtested.evaluation


def run_stages(
    data: dict[str, Any], store: pd.DataFrame | None = None, feature_fn: FeatureFn | None = None
) -> Stages:
    """Run the three training stages on ``data`` (the ``synthetic`` fixture's dict).

    JSON hand-offs go through a JSON round trip, as they do between the DVC stages.
    """
    frames = (
        data["store"] if store is None else store,
        data["metadata"],
        data["labels"],
        data["bars"],
    )
    params = data["params"]
    tuning = json.loads(json.dumps(tune.run(*frames, params)))
    trained = train.run(*frames, params, tuning, feature_fn=feature_fn)
    report = json.loads(json.dumps(trained.report))
    backtested = backtest_stage.run(trained.oos, trained.cpcv, data["bars"], report, tuning, params)
    return Stages(tuning, trained, backtested)


@pytest.fixture(scope="session")
def stages(synthetic: dict[str, Any]) -> Stages:
    """One run of the three stages on the synthetic data."""
    return run_stages(synthetic)
