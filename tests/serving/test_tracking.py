"""Live prediction accuracy and paper orders of the engine, recomputed from its own answers."""

from __future__ import annotations

import math

import pandas as pd

from .conftest import Bundle
from .test_engine import make_engine, sample, send


def test_hit_rate_scores_each_prediction_at_its_label_horizon_and_orders_follow_positions(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    engine = make_engine(bundles["good"])
    horizon = engine.bundle.label_horizon
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:260].reset_index(drop=True)
    predictions: dict[int, float] = {}
    positions = [0.0]
    status, reply = send(engine, "KO", rows.iloc[: engine.window])
    predictions[engine.window - 1] = reply["prediction"]
    positions.append(reply["position"])
    for i in range(engine.window, len(rows)):
        status, reply = send(engine, "KO", rows.iloc[[i]])
        assert status == 200
        predictions[i] = reply["prediction"]
        positions.append(reply["position"])
    # A retry of the last bar replaces that bar's prediction, it adds no second one.
    send(engine, "KO", rows.iloc[[len(rows) - 1]])

    scored = hits = 0
    for i, p in predictions.items():
        if i + horizon >= len(rows) or p == 0.5:
            continue
        move = math.log(rows["close"].iloc[i + horizon]) - math.log(rows["close"].iloc[i])
        if move == 0:
            continue
        scored += 1
        hits += (move > 0) == (p > 0.5)
    assert scored > 100
    assert sample(engine, "strategy_predictions_scored_total", instrument="KO") == scored
    assert sample(engine, "strategy_prediction_hits_total", instrument="KO") == hits
    assert 0 < hits < scored

    changes = [(a, b) for a, b in zip(positions, positions[1:], strict=False) if a != b]
    buys = sum(1 for a, b in changes if b > a)
    assert buys > 0 and len(changes) - buys > 0
    assert sample(engine, "strategy_paper_orders_total", instrument="KO", side="buy") == buys
    assert (
        sample(engine, "strategy_paper_orders_total", instrument="KO", side="sell")
        == len(changes) - buys
    )
    quantity = sum(abs(b - a) for a, b in changes)
    assert sample(engine, "strategy_paper_order_quantity_total", instrument="KO") == quantity
    # Series of the other instrument exist from the start, at zero.
    assert sample(engine, "strategy_predictions_scored_total", instrument="PEP") == 0
