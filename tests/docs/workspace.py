"""A workspace where the docs' blocks that need no cluster can run: a clone plus small data.

A ``git clone`` of the repository (its committed state, with history for ``git log`` and
``dvc metrics diff``), then what ``dvc pull`` would bring in the platform, built small from the
bundled sample: the feature store and labels of four instruments, a model bundle trained on
them (with its reference and backtest figures), uploaded to S3 (moto) and named by a
schema-valid ``environments/prod/model.yaml``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import lightgbm as lgb
import numpy as np
import pandas as pd

from pipelines.config import load_params
from pipelines.data.features import compute_features, compute_labels
from pipelines.data.store import write_store
from pipelines.registry.bundle import PositionRule, bundle_payload, save_bundle
from pipelines.training.reference import backtest_prediction_power, recent_rows
from tests.conftest import REPO_ROOT
from tests.registry.fixtures import write

INSTRUMENTS = ["KO", "PEP", "MSFT", "XOM"]
BUCKET = "runbook-models"


def _bars(root: Path) -> pd.DataFrame:
    wide = pd.read_csv(root / "data/sample/sp500_20_daily_close.csv.gz", parse_dates=["Date"])
    wide = wide[wide["Date"] >= "2018-01-01"]
    long = wide.melt(
        id_vars="Date", value_vars=INSTRUMENTS, var_name="instrument", value_name="close"
    )
    long = long.rename(columns={"Date": "timestamp"}).dropna()
    long["timestamp"] = pd.to_datetime(long["timestamp"], utc=True)
    return long.sort_values(["instrument", "timestamp"]).reset_index(drop=True)


def build(target: Path) -> Path:
    """Clone the repository into ``target``, add the data, upload the bundle; return ``target``."""
    subprocess.run(
        ["git", "clone", "--quiet", str(REPO_ROOT), str(target)], check=True, capture_output=True
    )
    params = load_params(target / "params.yaml")
    bars = _bars(target)
    features = compute_features(bars, params.features)
    labels = compute_labels(bars, params.label)
    write_store(features, {"features": list(features.columns[2:])}, target / "data/features")
    (target / "data/labels").mkdir(parents=True, exist_ok=True)
    labels.to_parquet(target / "data/labels/labels.parquet", index=False)

    names = ["ret_1", "ret_5", "ret_21", "vol_21", "vol_63", "mom_63", "mom_126", "zscore_21"]
    names.append("rsi_14")
    frame = features.merge(labels, on=["timestamp", "instrument"]).dropna(subset=names)
    frame = frame.sort_values(["timestamp", "instrument"]).reset_index(drop=True)
    train = frame[frame["timestamp"] < "2022-01-01"].reset_index(drop=True)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 3, "num_threads": 1},
        lgb.Dataset(train[names].to_numpy(), label=train["label_sign"].to_numpy()),
        num_boost_round=40,
    )
    positions = np.searchsorted(np.sort(train["timestamp"].unique()), train["timestamp"])
    picked = recent_rows(positions, 252, 2000, 7)
    backtest_rows = np.arange(len(train) // 2, len(train))
    metadata = {
        "train_span": [str(train["timestamp"].min()), str(train["timestamp"].max())],
        "prediction_power": backtest_prediction_power(
            train, backtest_rows, booster.predict(train[names].to_numpy()[backtest_rows]), "binary"
        ),
    }
    payload = bundle_payload(
        booster,
        names,
        params.features,
        "binary",
        params.label.horizon,
        "daily",
        PositionRule(threshold=0.02),
        metadata,
        train.iloc[picked][names].reset_index(drop=True),
    )
    bundle = target / "models/model_bundle.json"
    sha = save_bundle(payload, bundle)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(bundle), BUCKET, "trading-lgbm/1/model_bundle.json")
    uri = f"s3://{BUCKET}/trading-lgbm/1/model_bundle.json"
    write(target / "environments/prod/model.yaml", "prod", uri, sha, name="trading-lgbm")
    return target
