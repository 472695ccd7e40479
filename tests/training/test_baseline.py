"""Baseline choice: the deployed model when compatible, else the declared naive one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from pipelines.data.params import FeatureParams
from pipelines.registry.bundle import PositionRule, bundle_payload, save_bundle
from pipelines.training import baseline


def _bundle(tmp_path: Path, frequency: str = "daily", names: list[str] | None = None) -> str:
    names = names or ["ret_1", "vol_21"]
    x = np.random.default_rng(0).normal(size=(200, len(names)))
    y = (x[:, 0] > 0).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1},
        lgb.Dataset(x, y, feature_name=names),
        num_boost_round=3,
    )
    payload = bundle_payload(
        booster, names, FeatureParams(), "binary", 5, frequency, PositionRule(0.0, False)
    )
    return save_bundle(payload, tmp_path / "models" / "old.json")


def _manifest(sha: str) -> dict[str, Any]:
    return {"name": "m", "version": "3", "artifact": {"uri": "models/old.json", "sha256": sha}}


def test_no_manifest_model_means_naive(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text("model: null\n", encoding="utf-8")
    assert baseline.read_manifest_model(tmp_path / "model.yaml") is None
    chosen, bundle = baseline.resolve(None, tmp_path, 1.5, "daily", ["ret_1"])
    assert chosen.kind == baseline.NAIVE and chosen.total_pnl == 1.5 and bundle is None


def test_compatible_manifest_model_is_evaluated(tmp_path: Path) -> None:
    sha = _bundle(tmp_path)
    chosen, bundle = baseline.resolve(_manifest(sha), tmp_path, 1.5, "daily", ["ret_1", "vol_21"])
    assert chosen.kind == baseline.MANIFEST and bundle is not None
    stamps = pd.bdate_range("2020-01-01", periods=30, tz="UTC")
    rng = np.random.default_rng(1)
    oos = pd.DataFrame(
        {
            "timestamp": np.repeat(stamps, 2),
            "instrument": ["A", "B"] * 30,
            "ret_1": rng.normal(size=60),
            "vol_21": rng.normal(size=60),
        }
    )
    grid = pd.DataFrame(rng.normal(0, 0.01, (30, 2)), index=stamps, columns=["A", "B"])
    pnl = baseline.evaluate_bundle(bundle, oos, grid, 0.0002)
    assert np.isfinite(pnl) and pnl != 0.0


def test_incompatible_or_tampered_models_fall_back_to_naive(tmp_path: Path) -> None:
    sha = _bundle(tmp_path, frequency="hourly")
    chosen, _ = baseline.resolve(_manifest(sha), tmp_path, 1.0, "daily", ["ret_1", "vol_21"])
    assert chosen.kind == baseline.NAIVE and "hourly" in chosen.reason
    chosen, _ = baseline.resolve(_manifest("f" * 64), tmp_path, 1.0, "hourly", ["ret_1", "vol_21"])
    assert chosen.kind == baseline.NAIVE and "sha256" in chosen.reason
    chosen, _ = baseline.resolve(_manifest(sha), tmp_path, 1.0, "hourly", ["ret_1"])
    assert "not in the store" in chosen.reason
    remote = {"name": "m", "version": "1", "artifact": {"uri": "s3://b/k", "sha256": sha}}
    assert "not a local path" in baseline.resolve(remote, tmp_path, 1.0, "daily", [])[0].reason
