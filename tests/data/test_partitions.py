"""The features stage in instrument partitions: the same bytes as one pass, only stale ones redone."""

from __future__ import annotations

import filecmp
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pipelines.data import partitions
from pipelines.data.features import compute_features, compute_labels
from pipelines.data.params import FeatureParams, LabelParams
from pipelines.errors import ConfigError
from tests.data.conftest import RunCli


def _sections(repo_root: Path, count: int, workers: int) -> dict[str, object]:
    sample = repo_root / "data/sample"
    return {
        "data": {
            "sample": {
                "path": str(sample / "sp500_20_daily_close.csv.gz"),
                "reference": str(sample / "instruments.csv"),
            },
            "events": {"source": "file", "path": str(sample / "news_sentiment.csv.gz")},
        },
        "features": {"events": {"enabled": True}},
        "scale": {"data_partitions": count, "data_workers": workers},
    }


def _same_tree(left: Path, right: Path) -> list[str]:
    files = sorted(p.relative_to(left) for p in left.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(right) for p in right.rglob("*") if p.is_file())
    return [str(f) for f in files if not filecmp.cmp(left / f, right / f, shallow=False)]


@pytest.fixture
def validated(
    repo_root: Path, project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> Callable[[int, int], str]:
    """Ingest and validate the bundled sample in the project; a writer of params by partition."""

    def params_for(count: int, workers: int) -> str:
        return make_params(**_sections(repo_root, count, workers))

    path = params_for(1, 1)
    for stage in ("ingest", "validate"):
        assert run_cli("--params", path, "data", stage) == (0, [])
    return params_for


def test_partitions_in_processes_write_the_bytes_of_one_pass(
    project: Path, validated: Callable[[int, int], str], run_cli: RunCli
) -> None:
    assert run_cli("--params", validated(1, 1), "data", "features") == (0, [])
    single = project / "single"
    shutil.copytree(project / "data/features", single / "features")
    shutil.copy(project / "data/labels/labels.parquet", single / "labels.parquet")
    bars = pd.read_parquet(project / "data/validated/bars.parquet")

    assert run_cli("--params", validated(4, 2), "data", "features") == (0, [])

    assert _same_tree(single / "features", project / "data/features") == []
    assert filecmp.cmp(single / "labels.parquet", project / "data/labels/labels.parquet", False)
    parts = sorted(p.name for p in (project / "data/feature_parts").iterdir())
    assert parts == [partitions.name(k, 4) for k in range(4)]  # the one-pass folder went
    held = [
        json.loads((project / "data/feature_parts" / p / "key.json").read_text())["instruments"]
        for p in parts
    ]
    assert sorted(sum(held, [])) == sorted(bars["instrument"].unique())
    assert all(held), "each of 4 partitions holds instruments of the 20 bundled ones"


def test_a_rerun_redoes_only_the_partition_whose_bars_changed(
    project: Path, validated: Callable[[int, int], str], run_cli: RunCli
) -> None:
    path = validated(4, 1)
    assert run_cli("--params", path, "data", "features") == (0, [])
    root = project / "data/feature_parts"
    before = {p.name: (p / "features.parquet").stat().st_mtime_ns for p in root.iterdir()}
    source = project / "data/validated/bars.parquet"
    bars = pd.read_parquet(source)
    dropped = sorted(bars["instrument"].unique())[0]
    last = bars[bars["instrument"] == dropped]["timestamp"].max()
    keep = ~((bars["instrument"] == dropped) & (bars["timestamp"] == last))
    bars[keep].reset_index(drop=True).to_parquet(source, index=False)

    assert run_cli("--params", path, "data", "features") == (0, [])

    after = {p.name: (p / "features.parquet").stat().st_mtime_ns for p in root.iterdir()}
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == [partitions.name(partitions.of(dropped, 4), 4)]
    store = pd.read_parquet(project / "data/features" / f"instrument={dropped}")
    assert store["timestamp"].max() < last


def test_a_partition_alone_then_the_merge(
    project: Path, validated: Callable[[int, int], str], run_cli: RunCli
) -> None:
    path = validated(2, 1)
    assert run_cli("--params", path, "data", "features", "--partition", "1/2") == (0, [])
    assert sorted(p.name for p in (project / "data/feature_parts").iterdir()) == ["part-1-of-2"]
    assert not (project / "data/features").exists()
    code, errors = run_cli("--params", path, "data", "features", "--partition", "2/2")
    assert code != 0
    assert errors == ["error: --partition '2/2': expected K/N with 0 <= K < N (for example 0/4)"]


def test_merge_of_parts_equals_one_pass_on_frames(repo_root: Path) -> None:
    wide = pd.read_csv(repo_root / "data/sample/sp500_20_daily_close.csv.gz", parse_dates=["Date"])
    bars = wide.melt(id_vars="Date", var_name="instrument", value_name="close").dropna()
    bars = bars.rename(columns={"Date": "timestamp"})
    params = FeatureParams()
    groups = [
        bars[bars["instrument"].isin(partitions.members(bars["instrument"], k, 3))]
        for k in range(3)
    ]
    parts = [compute_features(g, partitions.without_ranks(params)) for g in groups]
    merged = partitions.merge_features(parts, params, ohlcv=False)
    pd.testing.assert_frame_equal(merged, compute_features(bars, params), check_exact=True)
    labels = partitions.merge_labels([compute_labels(g, LabelParams()) for g in groups])
    pd.testing.assert_frame_equal(labels, compute_labels(bars, LabelParams()), check_exact=True)


@pytest.mark.parametrize("text", ["3", "a/2", "-1/2", "2/2", "0/0"])
def test_a_bad_partition_is_named(text: str) -> None:
    with pytest.raises(ConfigError, match="expected K/N"):
        partitions.parse(text)


def test_an_instruments_partition_does_not_depend_on_the_others() -> None:
    alone = partitions.members(["EURUSD"], partitions.of("EURUSD", 8), 8)
    crowd = [f"X{i}" for i in range(500)] + ["EURUSD"]
    assert "EURUSD" in partitions.members(crowd, partitions.of("EURUSD", 8), 8)
    assert alone == ["EURUSD"]
    sizes = [len(partitions.members(crowd, k, 8)) for k in range(8)]
    assert sum(sizes) == 501 and min(sizes) > 40
