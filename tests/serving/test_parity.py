"""Online features and predictions equal the offline pipeline's on replayed bars (1e-9)."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd

from pipelines.data.features import compute_features
from pipelines.data.instrument_features import instrument_features, latest_features
from pipelines.registry.bundle import load_bundle
from pipelines.serving.engine import SignalEngine
from pipelines.serving.metrics import ServiceMetrics
from pipelines.serving.params import ServingParams

from .conftest import Bundle, bars_payload

N_ROWS = 180


def test_online_features_and_predictions_match_offline(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    bundle = load_bundle(bundles["good"].path, bundles["good"].sha256)
    params = ServingParams(buffer_bars=150)
    engine = SignalEngine(bundle, "v", ["KO", "PEP"], params, ServiceMetrics("v", [0.1]))
    bars = market_bars[market_bars["instrument"].isin(["KO", "PEP"])]
    offline = compute_features(bars, bundle.feature_params)
    offline["prediction"] = bundle.predict(offline)
    compared = 0
    for instrument in ("KO", "PEP"):
        rows = bars[bars["instrument"] == instrument].iloc[:N_ROWS]
        expected = offline[offline["instrument"] == instrument].set_index("timestamp")
        for i in range(len(rows)):
            status, reply = asyncio.run(
                engine.handle(
                    instrument, {"instrument": instrument, "bars": bars_payload(rows.iloc[[i]])}
                )
            )
            assert status == 200, reply
            if reply["status"] == "warming_up":
                assert i < engine.window - 1
                continue
            stamp = rows["timestamp"].iloc[i]
            assert abs(reply["prediction"] - expected.loc[stamp, "prediction"]) <= 1e-9
            compared += 1
            if i % 10:
                continue
            state = engine.states[instrument]
            online = instrument_features(state.frame(engine.window), bundle.feature_params).iloc[-1]
            want = expected.loc[stamp, bundle.feature_names].to_numpy(dtype=float)
            np.testing.assert_allclose(
                online[bundle.feature_names].to_numpy(dtype=float), want, rtol=0, atol=1e-9
            )
            # The service's own path (latest bar only) gives the offline numbers exactly.
            latest = latest_features(state.arrays(engine.window), bundle.feature_params)
            np.testing.assert_array_equal([latest[n] for n in bundle.feature_names], want)
            assert reply["position"] == float(
                bundle.positions(np.array([expected.loc[stamp, "prediction"]]))[0]
            )
    assert compared == 2 * (N_ROWS - engine.window + 1)
