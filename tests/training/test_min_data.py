"""Too little data: before tuning, one line with the rows available, needed, and the params."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.cli import main as cli_main
from pipelines.data.features import compute_features, compute_labels
from pipelines.data.params import FeatureParams, LabelParams
from pipelines.data.store import build_metadata, write_store
from tests.training.conftest import make_bars


@pytest.fixture
def tiny_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose feature store holds 2 instruments x 60 daily bars (120 rows)."""
    monkeypatch.chdir(tmp_path)
    bars = make_bars(n_days=60, instruments=2)
    features = compute_features(bars, FeatureParams())
    names = [c for c in features.columns if c not in ("timestamp", "instrument")]
    metadata = build_metadata(features, names, "0" * 64, has_ohlcv=False)
    metadata |= {"label_horizon": 5, "frequency": "daily"}
    write_store(features, metadata, "data/features")
    Path("data/labels").mkdir(parents=True)
    compute_labels(bars, LabelParams()).to_parquet("data/labels/labels.parquet")
    Path("data/validated").mkdir(parents=True)
    bars.to_parquet("data/validated/bars.parquet")
    Path("params.yaml").write_text(yaml.safe_dump({}), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("stage", ["tune", "train"])
def test_too_little_data_is_one_line_before_any_training(
    tiny_project: Path, capsys: pytest.CaptureFixture[str], stage: str
) -> None:
    if stage == "train":
        Path("models").mkdir()
        Path("models/tuning.json").write_text('{"best_params": {}, "n_trials": 1}')
    code = cli_main([stage])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert code == 2 and "Traceback" not in err
    assert errors == [
        "error: data/features: too little data to train: 110 samples (2 instrument(s) x 55 "
        "bars); the whole data set has 110 rows but each training set needs 471 (2 x "
        "training.model.min_data_in_leaf=200 / (1 - training.splits.validation_fraction=0.15)) "
        "and the time is cut in training.splits.walk_forward_folds=5 + 1 blocks (at least 2 "
        "bars each); add data or lower those params"
    ]
    assert not Path("models/model_bundle.json").exists()


def test_the_smallest_training_set_is_named(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = {"training": {"model": {"min_data_in_leaf": 5}, "splits": {"cpcv_groups": 4}}}
    Path("params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    assert cli_main(["tune"]) == 2
    err = capsys.readouterr().err
    assert "the tuning block has 0 rows but each training set needs 12" in err
