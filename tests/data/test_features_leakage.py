"""Leak-free by construction, proven: features from bars truncated at t equal the full ones at t."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.data.event_features import EventInput, available_by
from pipelines.data.events import parse_events
from pipelines.data.features import compute_features, compute_labels
from pipelines.data.instrument_features import instrument_features
from pipelines.data.params import EventFeatureParams, FeatureParams, LabelParams
from pipelines.data.reference import parse_reference
from pipelines.training.leakage import check_truncation
from pipelines.training.train import truncated_features


def _bundled_long(repo_root: Path) -> pd.DataFrame:
    wide = pd.read_csv(repo_root / "data/sample/sp500_20_daily_close.csv.gz", parse_dates=["Date"])
    long = wide.melt(id_vars="Date", var_name="instrument", value_name="close").dropna()
    long = long.rename(columns={"Date": "timestamp"})
    long["timestamp"] = long["timestamp"].dt.tz_localize("UTC")
    return long.reset_index(drop=True)


@pytest.fixture(scope="module")
def bars(repo_root: Path) -> pd.DataFrame:
    return _bundled_long(repo_root)


def test_truncation_at_many_timestamps_gives_identical_features(bars: pd.DataFrame) -> None:
    params = FeatureParams()
    full = compute_features(bars, params).set_index(["timestamp", "instrument"]).sort_index()
    stamps = np.sort(bars["timestamp"].unique())
    rng = np.random.default_rng(7)
    cut_points = rng.choice(stamps[200:], size=25, replace=False)
    for t in cut_points:
        truncated = bars[bars["timestamp"] <= t]
        at_t = compute_features(truncated, params)
        at_t = at_t[at_t["timestamp"] == t].set_index(["timestamp", "instrument"]).sort_index()
        expected = full.loc[at_t.index]
        assert len(at_t) == bars[bars["timestamp"] == t]["instrument"].nunique()
        pd.testing.assert_frame_equal(at_t, expected, check_exact=False, rtol=1e-12, atol=1e-12)


def test_a_feature_that_peeks_is_caught_by_the_same_comparison(bars: pd.DataFrame) -> None:
    """The comparison is able to fail: a forward-shifted column differs after truncation."""
    one = bars[bars["instrument"] == "AAPL"].sort_values("timestamp").reset_index(drop=True)
    peek = one["close"].shift(-1)
    t_index = 500
    truncated = one.iloc[: t_index + 1]
    assert not np.isclose(
        peek.iloc[t_index], truncated["close"].shift(-1).iloc[t_index], equal_nan=False
    )


def test_instrument_features_are_what_compute_features_uses(bars: pd.DataFrame) -> None:
    params = FeatureParams(cross_sectional=False)
    one = bars[bars["instrument"] == "MSFT"].sort_values("timestamp").reset_index(drop=True)
    direct = instrument_features(one, params)
    via_all = compute_features(bars, params)
    via_all = via_all[via_all["instrument"] == "MSFT"].reset_index(drop=True)
    pd.testing.assert_frame_equal(direct.reset_index(drop=True), via_all[direct.columns])


def test_labels_carry_end_time_and_are_forward(bars: pd.DataFrame) -> None:
    labels = compute_labels(bars, LabelParams(horizon=5))
    one = bars[bars["instrument"] == "KO"].sort_values("timestamp").reset_index(drop=True)
    lab = labels[labels["instrument"] == "KO"].reset_index(drop=True)
    assert len(lab) == len(one) - 5
    assert (lab["label_end"] == one["timestamp"].iloc[5:].reset_index(drop=True)).all()
    expected = np.log(one["close"].iloc[5:].to_numpy() / one["close"].iloc[:-5].to_numpy())
    np.testing.assert_allclose(lab["fwd_return"].to_numpy(), expected, rtol=1e-9, atol=1e-12)
    assert set(lab["label_sign"].unique()) <= {0, 1}


@pytest.fixture(scope="module")
def news(repo_root: Path) -> EventInput:
    path = repo_root / "data/sample/news_sentiment.csv.gz"
    events, rejects = parse_events(path.name, path.read_bytes())
    assert rejects.empty
    master = repo_root / "data/sample/instruments.csv"
    rows, _ = parse_reference(master.name, master.read_bytes())
    calendars = dict(zip(rows["instrument"], rows["calendar"], strict=False))
    return EventInput(events, calendars, "daily")


def _peeking_by_date(bars: pd.DataFrame, params: FeatureParams, inputs: EventInput) -> pd.DataFrame:
    """A tempting, wrong join: every headline of the bar's calendar date, whatever the hour."""
    plain = compute_features(bars, params.model_copy(update={"events": EventFeatureParams()}))
    day = inputs.events.assign(timestamp=inputs.events["published_at"].dt.floor("D"))
    daily = day.groupby(["timestamp", "instrument"])["sentiment"].agg(["size", "mean"])
    joined = plain.join(daily, on=["timestamp", "instrument"])
    return plain.assign(news_count_1=joined["size"].fillna(0.0), news_sentiment_1=joined["mean"])


def test_truncation_with_event_features_on(bars: pd.DataFrame, news: EventInput) -> None:
    """Bars cut at t and the events available at t's close give the full data's features."""
    params = FeatureParams(events=EventFeatureParams(enabled=True, windows=[1, 5]))
    recent = bars[bars["timestamp"] >= pd.Timestamp("2017-06-01", tz="UTC")]
    full = compute_features(recent, params, news)
    names = [c for c in full.columns if c.startswith("news_")]
    assert full["news_count_5"].sum() > 5000
    stamps = np.sort(recent["timestamp"].unique())
    cuts = list(np.random.default_rng(3).choice(stamps[300:-1], size=8, replace=False))
    truncate = partial(truncated_features, params=params, events=news)
    assert check_truncation(recent, full, names, truncate, cuts, 1e-9) == []
    # The same comparison catches a join by calendar date (a headline after the close).
    one = params.model_copy(update={"events": EventFeatureParams(enabled=True, windows=[1])})
    leaky_full = _peeking_by_date(recent, one, news)

    def leaky(cut: pd.DataFrame) -> pd.DataFrame:
        return _peeking_by_date(cut, one, available_by(cut, news, one.events))

    findings = check_truncation(recent, leaky_full, ["news_count_1"], leaky, cuts, 1e-9)
    assert findings and "news_count_1" in findings[0]
