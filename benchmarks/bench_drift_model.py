"""Inputs of the whole hourly check for the drift benchmark: a store, labels and a model.

The benchmark's tables become a feature store of 20 instruments (timestamps one day apart), a
LightGBM model trained on the reference plays the deployed model (its bundle carries the
reference and a backtest IC/hit rate), and realised forward returns follow a known rule with
noise, so prediction power has something to find. None of this is timed.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.data.params import FeatureParams
from pipelines.monitoring.power import baseline
from pipelines.registry.bundle import ModelBundle, PositionRule

INSTRUMENTS = 20


def _keys(rows: int, start: str) -> pd.DataFrame:
    stamps = pd.date_range(start, periods=-(-rows // INSTRUMENTS), freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "timestamp": np.repeat(stamps, INSTRUMENTS)[:rows],
            "instrument": np.tile([f"I{i:02d}" for i in range(INSTRUMENTS)], len(stamps))[:rows],
        }
    )


def _returns(frame: pd.DataFrame, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = np.nan_to_num(frame["f00"].to_numpy()) + 0.5 * np.nan_to_num(frame["f01"].to_numpy())
    return 0.01 * signal + 0.05 * rng.standard_normal(len(frame))


def hourly_inputs(
    reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, ModelBundle]:
    """The store (current rows with keys), their labels and the model bundle."""
    names = list(reference.columns)
    ref_keys = _keys(len(reference), "1900-01-01")
    store = pd.concat([_keys(len(current), "2100-01-01"), current.reset_index(drop=True)], axis=1)
    labels = store[["timestamp", "instrument"]].assign(fwd_return=_returns(store, 1))
    target = (_returns(reference, 2) > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": 1, "num_threads": 1},
        lgb.Dataset(reference.to_numpy(dtype="float64"), label=target),
        num_boost_round=50,
    )
    backtest = ref_keys.assign(
        prediction=booster.predict(reference.to_numpy(dtype="float64")),
        fwd_return=_returns(reference, 3),
    )
    power = baseline(backtest, 0.5)
    bundle = ModelBundle(
        booster=booster,
        feature_names=names,
        feature_params=FeatureParams(),
        objective="binary",
        label_horizon=1,
        frequency="daily",
        position_rule=PositionRule(threshold=0.02),
        metadata={
            "train_span": [str(ref_keys["timestamp"].min()), str(ref_keys["timestamp"].max())],
            "prediction_power": power,
        },
        reference=reference,
    )
    return store, labels, bundle


def covering_params(params: Params, timestamps: int) -> Params:
    """The repository's params with every live window covering all ``timestamps``."""
    checks = params.monitoring.checks
    power = checks.prediction_power.model_copy(update={"window_bars": timestamps})
    monitoring = params.monitoring.model_copy(
        update={
            "window_bars": timestamps,
            "checks": checks.model_copy(update={"prediction_power": power}),
        }
    )
    return params.model_copy(update={"monitoring": monitoring})
