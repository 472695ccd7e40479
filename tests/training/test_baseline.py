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


def _bundle(
    tmp_path: Path,
    frequency: str = "daily",
    names: list[str] | None = None,
    train_end: str = "2019-12-31",
) -> str:
    names = names or ["ret_1", "vol_21"]
    x = np.random.default_rng(0).normal(size=(200, len(names)))
    y = (x[:, 0] > 0).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1},
        lgb.Dataset(x, y, feature_name=names),
        num_boost_round=3,
    )
    payload = bundle_payload(
        booster,
        names,
        FeatureParams(),
        "binary",
        5,
        frequency,
        PositionRule(0.0, False),
        metadata={"train_span": ["2010-01-01", f"{train_end} 00:00:00+00:00"]},
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
    sha = _bundle(tmp_path, train_end="2020-01-14")
    chosen, bundle = baseline.resolve(_manifest(sha), tmp_path, 1.5, "daily", ["ret_1", "vol_21"])
    assert chosen.kind == baseline.MANIFEST and bundle is not None
    stamps = pd.bdate_range("2020-01-01", periods=30, tz="UTC")
    rng = np.random.default_rng(1)
    keys = pd.DataFrame({"timestamp": np.repeat(stamps, 2), "instrument": ["A", "B"] * 30})
    oos = keys.assign(ret_1=rng.normal(size=60), vol_21=rng.normal(size=60))
    mine = keys.assign(position=rng.choice([-1.0, 0.0, 1.0], size=60))
    returns = pd.DataFrame(rng.normal(0, 0.01, (30, 2)), index=stamps, columns=["A", "B"])
    result = baseline.compare_on_common_period(bundle, mine, oos, returns, 0.0002)
    assert result is not None and result.kind == baseline.MANIFEST
    # Trained through Jan 14 (bar 9), then a 5-bar label gap: the comparison starts at bar 15.
    assert result.period is not None and result.period.startswith(str(stamps[15]))
    assert np.isfinite(result.total_pnl) and np.isfinite(result.candidate_pnl)
    assert result.total_pnl != result.candidate_pnl
    # A model trained through the end of the period has no out-of-sample bar in common.
    late = baseline.resolve(
        _manifest(_bundle(tmp_path, train_end="2020-03-01")),
        tmp_path,
        1.5,
        "daily",
        ["ret_1", "vol_21"],
    )[1]
    assert late is not None
    assert baseline.compare_on_common_period(late, mine, oos, returns, 0.0002) is None


def test_incompatible_or_tampered_models_fall_back_to_naive(tmp_path: Path) -> None:
    sha = _bundle(tmp_path, frequency="hourly")
    chosen, _ = baseline.resolve(_manifest(sha), tmp_path, 1.0, "daily", ["ret_1", "vol_21"])
    assert chosen.kind == baseline.NAIVE and "hourly" in chosen.reason
    chosen, _ = baseline.resolve(_manifest("f" * 64), tmp_path, 1.0, "hourly", ["ret_1", "vol_21"])
    assert chosen.kind == baseline.NAIVE and "sha256" in chosen.reason
    chosen, _ = baseline.resolve(_manifest(sha), tmp_path, 1.0, "hourly", ["ret_1"])
    assert "not in the store" in chosen.reason
    remote = {"name": "m", "version": "1", "artifact": {"uri": "s3://b/k", "sha256": sha}}
    assert "not available locally" in baseline.resolve(remote, tmp_path, 1.0, "daily", [])[0].reason


def test_missing_local_file_is_fetched_and_verified(tmp_path: Path) -> None:
    sha = _bundle(tmp_path)
    manifest = {**_manifest(sha), "artifact": {"uri": "models/gone.json", "sha256": sha}}
    calls: list[dict[str, Any]] = []

    def fetch(entry: dict[str, Any]) -> Path:
        calls.append(entry)
        return tmp_path / "models" / "old.json"

    chosen, bundle = baseline.resolve(manifest, tmp_path, 1.0, "daily", ["ret_1", "vol_21"], fetch)
    assert chosen.kind == baseline.MANIFEST and bundle is not None and len(calls) == 1
    tampered = {**manifest, "artifact": {"uri": "models/gone.json", "sha256": "e" * 64}}
    chosen, bundle = baseline.resolve(tampered, tmp_path, 1.0, "daily", ["ret_1", "vol_21"], fetch)
    assert chosen.kind == baseline.NAIVE and bundle is None and "sha256" in chosen.reason
