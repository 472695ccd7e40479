"""The model card's plots render in a pull request: Mermaid charts, no relative image links."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pipelines.monitoring.charts import downsample, xychart
from pipelines.training.card_charts import card_charts


def _inputs() -> tuple[dict, pd.DataFrame]:
    stamps = pd.date_range("2000-01-03", periods=500, freq="B")
    rng = np.random.default_rng(1)
    series = pd.DataFrame(
        {
            "timestamp": stamps.strftime("%Y-%m-%d %H:%M"),
            "strategy": np.exp(np.cumsum(rng.normal(0.0005, 0.01, 500))),
            "baseline": np.exp(np.cumsum(rng.normal(0.0003, 0.01, 500))),
        }
    )
    evaluation = {
        "cpcv_path_sharpes": [0.9, 1.1, None, 0.8],
        "feature_importance": {"mom_126": 30.0, "vol_21": 10.0, "ret_1": 60.0},
    }
    return evaluation, series


def test_card_charts_are_mermaid_with_axis_titles_and_every_series():
    evaluation, series = _inputs()
    charts = card_charts(evaluation, series)
    assert len(charts) == 4
    for chart in charts:
        assert chart.startswith("```mermaid\nxychart-beta") and chart.endswith("```")
        assert re.search(r'y-axis "[^"]+" ', chart)
    equity = charts[0]
    assert equity.count("\n    line [") == 2  # model and baseline
    assert "(model / naive baseline)" in equity
    bars = charts[3]
    assert '"ret_1", "mom_126", "vol_21"' in bars and "bar [60, 30, 10]" in bars
    assert "bar [0.9, 1.1, 0.8]" in charts[2]  # a path without a Sharpe is left out


def test_downsampling_keeps_the_ends_and_at_most_the_limit():
    picks = downsample(list(range(1000)), 60)
    assert picks[0] == 0 and picks[-1] == 999 and len(picks) <= 61
    assert downsample(list(range(10)), 60) == list(range(10))
    assert xychart("t", [], [("a", [])], "y") == ""


def test_the_rendered_card_links_no_relative_image():
    from pipelines.training.card import learned_line, render_markdown

    evaluation, series = _inputs()
    card = {
        "model_name": "m",
        "bundle_sha256": "0" * 64,
        "model": "",
        "feature_choice": "",
        "features": ["a"],
        "data": {
            "start": "s",
            "end": "e",
            "rows": 1,
            "instruments": ["A"],
            "frequency": "daily",
            "periods_per_year": 252,
            "label_horizon": 5,
            "embargo_bars": 5,
            "sha256": "x",
        },
        "out_of_sample": {"start": "s", "end": "e"},
        "params_hash": "p",
        "metrics": {},
        "baseline_delta_pnl": None,
        "definitions": {"win_rate": "", "protocol": ""},
        "per_instrument": {},
        "cpcv_path_sharpes": [],
        "baselines": {},
        "gates": {},
        "leakage_findings": [],
        "annualisation": "252 bars a year (training.backtest.periods_per_year)",
        "learned": learned_line({}),
    }
    text = render_markdown(card, card_charts(evaluation, series))
    assert not re.search(r"!\[[^\]]*\]\((?!https?://)", text)
    assert text.count("```mermaid") == 4
