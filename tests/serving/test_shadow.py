"""Shadow traffic and window requests: what the canary's pairwise analysis relies on.

A request mirrored by the mesh carries Host ``<host>-shadow``: its metrics are labelled
``traffic="shadow"``, a client's ``traffic="live"``. A client may send its recent window of bars
every time: a fresh pod warms up from the first request, a warm one realises only the new bar,
and a bar that contradicts a held one is refused.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from pipelines.serving.app import create_app, traffic_of
from pipelines.serving.params import ServingParams
from pipelines.serving.source import ModelRef

from .conftest import INSTRUMENTS, Bundle, bars_payload
from .test_engine import make_engine, sample


@pytest.mark.parametrize(
    ("host", "traffic"),
    [
        ("strategy-service-shadow", "shadow"),
        ("strategy-service-shadow:8080", "shadow"),
        ("STRATEGY-SERVICE-SHADOW.trading-prod.svc:8080", "live"),  # not Istio's form
        ("strategy-service:8080", "live"),
        ("127.0.0.2:8080", "live"),
        (None, "live"),
    ],
)
def test_traffic_of_host(host: str | None, traffic: str) -> None:
    assert traffic_of(host) == traffic


def test_shadow_requests_are_labelled(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    ref = ModelRef("strategy", "good-1", str(bundles["good"].path), bundles["good"].sha256)
    app = create_app(ref, INSTRUMENTS, ServingParams(), Path.cwd())
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:140]
    with TestClient(app) as client:
        for _ in range(200):
            if client.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        headers = {"X-Instrument": "KO", "Host": "strategy-service-shadow:8080"}
        for end in range(130, 140):
            body = {"instrument": "KO", "bars": bars_payload(rows.iloc[end - 130 : end])}
            assert client.post("/v1/signal", json=body, headers=headers).status_code == 200
        body = {"instrument": "KO", "bars": bars_payload(rows.iloc[140 - 130 : 140])}
        live = client.post("/v1/signal", json=body, headers={"X-Instrument": "KO"})
        assert live.status_code == 200
        text = client.get("/metrics").text
    shadow = 'strategy_requests_total{code="200",instrument="KO",model_version="good-1",'
    assert shadow + 'traffic="shadow"} 10.0' in text
    assert shadow + 'traffic="live"} 1.0' in text
    assert (
        'strategy_paper_returns_total{instrument="KO",model_version="good-1",traffic="live"}'
        in text
    )


def test_window_requests_warm_a_fresh_engine_and_realise_only_new_bars(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    engine = make_engine(bundles["good"])
    window = engine.window
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[: window + 60]
    realised = 0
    for end in range(window, window + 60):
        body = {"instrument": "KO", "bars": bars_payload(rows.iloc[end - window : end + 1])}
        status, reply = asyncio.run(engine.handle("KO", body, "shadow"))
        assert status == 200, reply
        assert reply["status"] == "ok"  # warm from the first window on
        assert reply["realised_returns"] <= 1  # only the newest bar can realise a return
        realised += reply["realised_returns"]
    assert realised > 0
    assert sample(engine, "strategy_paper_returns_total", instrument="KO") == 0.0  # not live
    shadow = engine.metrics.registry.get_sample_value(
        "strategy_paper_returns_total",
        {"model_version": "v1", "instrument": "KO", "traffic": "shadow"},
    )
    assert shadow == realised


def test_window_that_contradicts_a_held_bar_is_refused(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    engine = make_engine(bundles["good"])
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:200]
    payload = bars_payload(rows.iloc[:150])
    assert asyncio.run(engine.handle("KO", {"instrument": "KO", "bars": payload}))[0] == 200
    window = bars_payload(rows.iloc[100:151])
    window[10]["close"] = window[10]["close"] * 1.01
    status, reply = asyncio.run(engine.handle("KO", {"instrument": "KO", "bars": window}))
    assert status == 409 and "the bar held at that time" in reply["error"]
    # the same window, true to history, is accepted and adds one bar
    status, reply = asyncio.run(
        engine.handle("KO", {"instrument": "KO", "bars": bars_payload(rows.iloc[100:151])})
    )
    assert status == 200 and engine.states["KO"].bars[-1].close == rows["close"].iloc[150]
    # resending that window is a retry: nothing new, nothing realised
    status, reply = asyncio.run(
        engine.handle("KO", {"instrument": "KO", "bars": bars_payload(rows.iloc[100:151])})
    )
    assert status == 200 and reply["realised_returns"] == 0
    # a window that ends before the last bar held goes back in time
    status, reply = asyncio.run(
        engine.handle("KO", {"instrument": "KO", "bars": bars_payload(rows.iloc[100:140])})
    )
    assert status == 409 and "not after the last one held" in reply["error"]
