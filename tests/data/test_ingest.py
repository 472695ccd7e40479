"""Incremental ingest: only new bars are appended; a changed or late past bar is a revision."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.incremental import plan_merge
from pipelines.data.ingest import safe_name
from pipelines.data.sources.formats import parse_table

DAY1 = "timestamp,instrument,close\n2024-01-02,AAA,10\n2024-01-03,AAA,11\n2024-01-05,AAA,12\n"
DAY1 += "2024-01-02,BBB,20\n2024-01-05,BBB,21\n"
# The next delivery repeats history, revises AAA 2024-01-03, adds a late BBB bar and new bars.
DAY2 = "timestamp,instrument,close\n2024-01-02,AAA,10\n2024-01-03,AAA,11.5\n2024-01-05,AAA,12\n"
DAY2 += "2024-01-03,BBB,20.5\n2024-01-05,BBB,21\n2024-01-08,AAA,13\n2024-01-08,BBB,22\n"
DAY2 += "2024-01-08,CCC,5\n"


def test_plan_merge_splits_new_unchanged_and_revisions() -> None:
    stored = parse_table("day1.csv", DAY1.encode()).bars
    plan = plan_merge(stored, parse_table("day2.csv", DAY2.encode()).bars)
    assert sorted(zip(plan.append["instrument"], plan.append["close"], strict=True)) == [
        ("AAA", 13.0),
        ("BBB", 22.0),
        ("CCC", 5.0),
    ]
    assert plan.unchanged == 3
    reasons = dict(zip(plan.revisions["instrument"], plan.revisions["reason"], strict=True))
    assert reasons["AAA"] == "changed past bar: close 11.0 -> 11.5"
    assert reasons["BBB"].startswith("late bar")


def test_plan_merge_on_empty_store_appends_everything() -> None:
    batch = parse_table("day1.csv", DAY1.encode()).bars
    plan = plan_merge(pd.DataFrame(columns=["timestamp", "instrument", "close"]), batch)
    assert len(plan.append) == len(batch) and plan.revisions.empty


def test_two_nightly_runs_append_only_new_bars_and_quarantine_revisions(
    project: Path, make_params: Callable[..., str], run_cli: Callable[..., tuple[int, list[str]]]
) -> None:
    incoming = project / "incoming" / "bars.csv"
    incoming.parent.mkdir()
    params = make_params(
        data={"source": "file", "file": {"path": "incoming/bars.csv", "market": "equity"}}
    )
    incoming.write_text(DAY1, encoding="utf-8")
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    incoming.write_text(DAY2, encoding="utf-8")
    assert run_cli("--params", params, "data", "ingest") == (0, [])

    bars = pd.read_parquet(project / "data/ingested/bars.parquet")
    assert len(bars) == 8
    aaa = bars[bars["instrument"] == "AAA"].set_index("timestamp")["close"]
    assert aaa[pd.Timestamp("2024-01-03", tz="UTC")] == 11.0  # history not rewritten
    revisions = list((project / "data/quarantine/ingest").glob("revisions-*.parquet"))
    assert len(revisions) == 1
    quarantined = pd.read_parquet(revisions[0])
    assert sorted(quarantined["instrument"]) == ["AAA", "BBB"]
    assert "ingest_time" in quarantined.columns and quarantined["reason"].str.len().min() > 0
    state = json.loads((project / "data/ingested/state.json").read_text(encoding="utf-8"))
    assert state["last_bars"]["CCC"].startswith("2024-01-08")
    assert state["last_run"]["revisions"] == 2 and state["last_run"]["appended"] == 3
    archives = sorted((project / "data/raw").iterdir())
    assert [(a / "bars.csv").read_text(encoding="utf-8") for a in archives] == [DAY1, DAY2]


def test_archive_folder_is_never_reused(
    project: Path, make_params: Callable[..., str], run_cli: Callable[..., tuple[int, list[str]]]
) -> None:
    from pipelines.config import load_params
    from pipelines.data import ingest
    from pipelines.errors import DataError

    incoming = project / "incoming" / "bars.csv"
    incoming.parent.mkdir()
    incoming.write_text(DAY1, encoding="utf-8")
    params = load_params(
        make_params(data={"source": "file", "file": {"path": "incoming/*", "market": "equity"}})
    )
    moment = pd.Timestamp("2024-01-09T02:00:00Z")
    assert ingest.main(params, now=moment) == 0
    incoming.write_text(DAY2, encoding="utf-8")
    with pytest.raises(DataError, match="never overwritten"):
        ingest.main(params, now=moment)
    assert (project / "data/raw/20240109T020000000000Z/bars.csv").read_text() == DAY1


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a/b.csv", "a/b.csv"), ("/etc/passwd", "etc/passwd"), ("../../x.csv", "x.csv")],
)
def test_archive_names_stay_inside_the_archive(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_bundled_ohlcv_sample_runs_through_every_stage(
    repo_root: Path,
    make_params: Callable[..., str],
    run_cli: Callable[..., tuple[int, list[str]]],
    project: Path,
) -> None:
    sample = str(repo_root / "data/sample/goog_daily_ohlcv.csv.gz")
    master = str(repo_root / "data/sample/instruments.csv")
    params = make_params(data={"source": "sample", "sample": {"path": sample, "reference": master}})
    for stage in ("ingest", "validate", "features", "health"):
        assert run_cli("--params", params, "data", stage) == (0, []), stage
    meta = json.loads((project / "data/features/_metadata.json").read_text(encoding="utf-8"))
    assert meta["has_ohlcv"] and meta["instruments"] == ["GOOG"]
    report = json.loads((project / "reports/data_health.json").read_text(encoding="utf-8"))
    assert report["status"] == "ok"


def test_an_input_already_ingested_is_not_read_again(
    project: Path, make_params: Callable[..., str], run_cli: Callable[..., tuple[int, list[str]]]
) -> None:
    incoming = project / "incoming" / "bars.csv"
    incoming.parent.mkdir()
    incoming.write_text(DAY1, encoding="utf-8")
    params = make_params(
        data={"source": "file", "file": {"path": "incoming/*.csv", "market": "equity"}}
    )
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    state = json.loads((project / "data/ingested/state.json").read_text(encoding="utf-8"))
    assert state["last_run"]["fetched"] == 0 and state["last_run"]["archive"] is None
    assert list(state["seen"]) == [str(Path("incoming/bars.csv"))]
    assert state["dataset"] == {
        "frequency": "daily",
        "sources": {"file:incoming/*.csv": ["AAA", "BBB"]},
    }
    assert len(list((project / "data/raw").iterdir())) == 1

    (project / "data/ingested/bars.parquet").unlink()  # bars gone: the state is not trusted
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    assert len(pd.read_parquet(project / "data/ingested/bars.parquet")) == 5
