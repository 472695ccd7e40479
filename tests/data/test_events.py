"""News events: parsed row by row, joined to bars as of publication plus a lag, ingested."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.data.event_features import EventInput, event_feature_arrays
from pipelines.data.events import parse_events
from pipelines.data.features import _positions
from pipelines.data.params import EventFeatureParams

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "markets"
RunCli = Callable[..., tuple[int, list[str]]]


def _events() -> pd.DataFrame:
    path = FIXTURES / "news_events.csv"
    events, rejects = parse_events(path.name, path.read_bytes())
    assert rejects["line"].tolist() == [7, 8, 9]
    assert rejects["reason"].tolist() == [
        "column published_at: expected a date/time such as 2024-01-31 or 2024-01-31T15:00:00Z, "
        "got 'not-a-time'",
        "column sentiment: expected a score in [-1, 1], got '1.5'",
        "column instrument: expected a name, got ''",
    ]
    return events


def test_events_count_from_the_first_close_after_publication_plus_lag() -> None:
    events = _events()
    assert events.loc[4, "published_at"] == pd.Timestamp("2024-07-02T14:00Z")  # offset -> UTC
    # NYSE sessions: 1-3 July (the 3rd closes early, 17:00 UTC), the 4th is a holiday, 5, 8.
    days = pd.to_datetime(["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"])
    bars = pd.DataFrame({"timestamp": days.tz_localize("UTC"), "instrument": "AAA"})
    params = EventFeatureParams(enabled=True, availability_lag="5min", windows=[1, 3])
    inputs = EventInput(events, {"AAA": "XNYS"}, "daily")
    out = event_feature_arrays(bars, _positions(bars["instrument"]), inputs, params)
    # 19:54 + 5 min is before the 20:00 close of 1 July; 19:56 + 5 min is not: next session.
    assert out["news_count_1"].tolist() == [1.0, 1.0, 0.0, 1.0, 1.0]
    np.testing.assert_array_equal(out["news_sentiment_1"], [0.5, -0.5, np.nan, 1.0, -1.0])
    assert out["news_count_3"].tolist() == [1.0, 2.0, 2.0, 2.0, 2.0]
    np.testing.assert_allclose(out["news_sentiment_3"], [0.5, 0.0, 0.0, 0.25, 0.0])
    # A longer lag moves the 19:54 headline past the close as well.
    later = EventFeatureParams(enabled=True, availability_lag="10min", windows=[1])
    out = event_feature_arrays(bars, _positions(bars["instrument"]), inputs, later)
    assert out["news_count_1"].tolist() == [0.0, 2.0, 0.0, 1.0, 1.0]


def test_intraday_bars_see_events_from_the_end_of_their_hour() -> None:
    hours = pd.date_range("2024-07-02T13:00Z", periods=4, freq="h")
    bars = pd.DataFrame({"timestamp": hours, "instrument": "BBB"})
    params = EventFeatureParams(enabled=True, availability_lag="0min", windows=[1])
    inputs = EventInput(_events(), {"BBB": "24/7"}, "hourly")
    out = event_feature_arrays(bars, _positions(bars["instrument"]), inputs, params)
    # Published 14:00 exactly: complete for the 13:00 bar, which closes at 14:00.
    assert out["news_count_1"].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_events_are_ingested_and_become_features(
    project: Path, make_params: Callable[..., str], run_cli: RunCli, repo_root: Path
) -> None:
    (project / "incoming").mkdir()
    wide = pd.read_csv(repo_root / "data/sample/sp500_20_daily_close.csv.gz")
    wide[["Date", "AAPL", "KO"]].iloc[-400:].to_csv(project / "incoming/bars.csv", index=False)
    shutil.copy(repo_root / "data/sample/news_sentiment.csv.gz", project / "incoming/news.csv.gz")
    shutil.copy(repo_root / "data/sample/instruments.csv", project / "incoming/master.csv")
    params = make_params(
        data={
            "source": "file",
            "file": {"path": "incoming/bars.csv", "reference": "incoming/master.csv"},
            "events": {"source": "file", "path": "incoming/news.csv.gz"},
        },
        features={"events": {"enabled": True}},
    )
    for stage in ("ingest", "validate", "features"):
        assert run_cli("--params", params, "data", stage) == (0, []), stage
    stored = pd.read_parquet(project / "data/ingested/events.parquet")
    assert len(stored) == 10424 and stored["published_at"].dt.tz is not None
    meta = json.loads((project / "data/features/_metadata.json").read_text(encoding="utf-8"))
    assert meta["features"][-4:] == [
        "news_count_1",
        "news_sentiment_1",
        "news_count_5",
        "news_sentiment_5",
    ]
    part = pd.read_parquet(project / "data/features/instrument=KO/part-0.parquet")
    assert part["news_count_5"].sum() > 100 and part["news_sentiment_5"].notna().mean() > 0.5


def test_event_features_without_an_events_source_are_one_line(
    project: Path, make_params: Callable[..., str], run_cli: RunCli, repo_root: Path
) -> None:
    sample = str(repo_root / "data/sample/goog_daily_ohlcv.csv.gz")
    master = str(repo_root / "data/sample/instruments.csv")
    params = make_params(
        data={"source": "sample", "sample": {"path": sample, "reference": master}},
        features={"events": {"enabled": True}},
    )
    for stage in ("ingest", "validate"):
        assert run_cli("--params", params, "data", stage) == (0, [])
    code, errors = run_cli("--params", params, "data", "features")
    assert code != 0 and errors == [
        "error: params.yaml: features.events.enabled is true but data.events.source is 'none' "
        "(expected file or s3)"
    ]


@pytest.mark.slow
def test_events_come_from_s3_too(
    moto_server: str,
    aws_env: None,
    project: Path,
    make_params: Callable[..., str],
    run_cli: RunCli,
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket="landing")
    bars = "timestamp,instrument,close\n2024-07-01,AAA,10\n2024-07-02,AAA,11\n"
    s3.put_object(Bucket="landing", Key="bars/a.csv", Body=bars.encode())
    s3.put_object(
        Bucket="landing",
        Key="reference/master.csv",
        Body=(FIXTURES / "instruments_v1.csv").read_bytes(),
    )
    s3.put_object(
        Bucket="landing", Key="events/news.csv", Body=(FIXTURES / "news_events.csv").read_bytes()
    )
    source = {"bucket": "landing", "prefix": "bars/", "endpoint_url": moto_server}
    params = make_params(data={"source": "s3", "s3": source, "events": {"source": "s3"}})
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    assert len(pd.read_parquet(project / "data/ingested/events.parquet")) == 5
    master = pd.read_csv(project / "data/reference/instruments.csv")
    assert master["instrument"].tolist() == ["AAA", "BBB"]
    state = json.loads((project / "data/ingested/state.json").read_text(encoding="utf-8"))
    assert state["last_run"]["rejected"] == 3  # the three bad event rows, with their lines
