"""The model card's charts as Mermaid blocks: they render wherever the card's Markdown goes.

The card is embedded in the promotion pull request's body, where a relative image link
(``plots/equity.png``) is broken and a data URI is stripped; GitHub renders Mermaid there, in
the repository and in job summaries. The PNGs (``models/plots/*.png``) stay the DVC plots and
the ``model-plots`` workflow artifact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipelines.monitoring.charts import xychart


def card_charts(evaluation: dict[str, Any], series: pd.DataFrame) -> list[str]:
    """Equity against the baseline, drawdown, CPCV Sharpe by path and feature importance."""
    when = pd.to_datetime(series["timestamp"]).dt.strftime("%Y-%m").tolist()
    equity = series["strategy"].to_numpy(dtype="float64")
    drawdown = 1.0 - equity / np.maximum.accumulate(equity)
    sharpes = [float(v) for v in evaluation["cpcv_path_sharpes"] if v is not None]
    importance = pd.Series(evaluation["feature_importance"], dtype="float64").sort_values(
        ascending=False
    )
    total = float(importance.sum()) or 1.0
    charts = [
        xychart(
            "Equity, walk-forward out of sample",
            when,
            [("model", equity.tolist()), ("naive baseline", series["baseline"].tolist())],
            "growth of 1, after costs",
        ),
        xychart("Drawdown", when, [("drawdown", (drawdown * 100).tolist())], "below peak (%)"),
        xychart(
            "Annualised Sharpe by CPCV path",
            [str(i + 1) for i in range(len(sharpes))],
            [("Sharpe", sharpes)],
            "Sharpe (annualised)",
            kind="bar",
        ),
        xychart(
            "Feature importance (share of total gain)",
            importance.index.tolist(),
            [("gain", (importance / total * 100).tolist())],
            "share of gain (%)",
            kind="bar",
        ),
    ]
    return [c for c in charts if c]
