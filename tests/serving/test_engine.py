"""Paper returns, the circuit breaker and fault hooks of the signal engine (in process)."""

from __future__ import annotations

import asyncio
import math

import pandas as pd
import pytest

from pipelines.errors import PipelineError
from pipelines.registry.bundle import load_bundle
from pipelines.serving.breaker import CircuitBreaker
from pipelines.serving.engine import SignalEngine, injection_from_env
from pipelines.serving.metrics import ServiceMetrics
from pipelines.serving.params import BreakerParams, FaultInjection, ServingParams

from .conftest import Bundle, bars_payload


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_engine(bundle: Bundle, clock: Clock | None = None, **params: object) -> SignalEngine:
    model = load_bundle(bundle.path, bundle.sha256)
    return SignalEngine(
        model,
        "v1",
        ["KO", "PEP"],
        ServingParams(**params),
        ServiceMetrics("v1", [0.1]),
        clock=clock or Clock(),
    )


def sample(engine: SignalEngine, name: str, **labels: str) -> float:
    """A sample of the engine's registry (live traffic for the series that have the label)."""
    registry = engine.metrics.registry
    value = registry.get_sample_value(name, {"model_version": "v1", "traffic": "live", **labels})
    if value is None:
        value = registry.get_sample_value(name, {"model_version": "v1", **labels})
    return 0.0 if value is None else value


def send(engine: SignalEngine, instrument: str, rows: pd.DataFrame) -> tuple[int, dict]:
    return asyncio.run(
        engine.handle(instrument, {"instrument": instrument, "bars": bars_payload(rows)})
    )


def test_each_new_bar_realises_the_previous_position(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    engine = make_engine(bundles["good"])
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:200]
    status, reply = send(engine, "KO", rows.iloc[: engine.window])
    assert status == 200 and reply["status"] == "ok" and reply["realised_returns"] == 0
    expected_sum, expected_n = 0.0, 0
    for i in range(engine.window, 200):
        held = engine.states["KO"].position
        step = math.log(rows["close"].iloc[i]) - math.log(rows["close"].iloc[i - 1])
        status, reply = send(engine, "KO", rows.iloc[[i]])
        assert status == 200
        if held != 0:
            expected_sum += held * step
            expected_n += 1
        assert engine.states["KO"].position == reply["position"]
    gains = sample(engine, "strategy_paper_gain_sum_total", instrument="KO")
    losses = sample(engine, "strategy_paper_loss_sum_total", instrument="KO")
    assert expected_n > 0
    assert gains - losses == pytest.approx(expected_sum, abs=1e-12)
    assert sample(engine, "strategy_paper_returns_total", instrument="KO") == expected_n
    wins = sample(engine, "strategy_trade_wins_total", instrument="KO")
    assert wins + sample(engine, "strategy_trade_losses_total", instrument="KO") <= expected_n
    assert wins > 0
    # A retried bar (same time, same close) is skipped; the series keeps going.
    status, reply = send(engine, "KO", rows.iloc[[199]])
    assert status == 200 and reply["realised_returns"] == 0
    status, reply = send(engine, "KO", rows.iloc[[150]])
    assert status == 409 and "not after the last one held" in reply["error"]


def test_breaker_opens_answers_flat_and_closes_after_cooldown(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    clock = Clock()
    engine = make_engine(
        bundles["good"],
        clock,
        breaker=BreakerParams(failure_threshold=3, cooldown_seconds=30),
        inject=FaultInjection(error_rate=1.0),
    )
    ko = market_bars[market_bars["instrument"] == "KO"].iloc[:200]
    pep = market_bars[market_bars["instrument"] == "PEP"].iloc[:200]
    batches = [ko.iloc[: engine.window], ko.iloc[[engine.window]], ko.iloc[[engine.window + 1]]]
    for batch in batches:  # the model fails for KO three times in a row: KO's breaker opens
        status, reply = send(engine, "KO", batch)
        assert status == 500 and "injected" in reply["error"]
    trips = {"instrument": "KO", "reason": "injected"}
    assert sample(engine, "strategy_circuit_breaker_trips_total", **trips) == 1
    assert sample(engine, "strategy_circuit_breaker_open", instrument="KO") == 1
    assert sample(engine, "strategy_circuit_breaker_open", instrument="PEP") == 0
    engine.injection = FaultInjection()
    status, reply = send(engine, "KO", ko.iloc[[engine.window + 2]])
    assert status == 200 and reply["status"] == "circuit_open" and reply["position"] == 0.0
    # Per instrument: PEP is answered by the model while KO's breaker is open.
    status, reply = send(engine, "PEP", pep.iloc[: engine.window])
    assert status == 200 and reply["status"] == "ok"
    clock.now += 31
    status, reply = send(engine, "KO", ko.iloc[[engine.window + 3]])
    assert status == 200 and reply["status"] == "ok"
    assert sample(engine, "strategy_circuit_breaker_open", instrument="KO") == 0
    assert engine.breaker.trips == 1


def test_client_errors_never_trip_the_breaker(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    engine = make_engine(bundles["good"], breaker=BreakerParams(failure_threshold=2))
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:200]
    send(engine, "KO", rows.iloc[: engine.window])
    bad = [
        ("KO", {"instrument": "KO", "bars": [{"timestamp": "x", "close": 1}]}),
        ("KO", {"instrument": "KO", "bars": []}),
        ("ZZZ", {"instrument": "ZZZ", "bars": bars_payload(rows.iloc[:1])}),
        ("KO", {"instrument": "PEP", "bars": bars_payload(rows.iloc[:1])}),
        ("KO", None),
        ("KO", {"instrument": "KO", "bars": bars_payload(rows.iloc[:1])}),  # older bar: 409
    ]
    for _ in range(20):
        for header, body in bad:
            status, _reply = asyncio.run(engine.handle(header, body))
            assert 400 <= status < 500
    assert engine.breaker.trips == 0
    assert engine.breaker.open_instruments(engine.clock()) == []
    assert sample(engine, "strategy_circuit_breaker_trips_total", instrument="KO") == 0
    errors = engine.metrics.registry.get_sample_value
    assert all(
        (
            errors("strategy_errors_total", {"model_version": "v1", "instrument": i, "reason": r})
            or 0.0
        )
        == 0.0
        for i in ("KO", "PEP", "unknown")
        for r in ("exception", "internal")
    )
    status, reply = send(engine, "KO", rows.iloc[[engine.window]])
    assert status == 200 and reply["status"] == "ok"


def test_an_unexpected_error_is_a_counted_500_that_trips_only_its_instrument(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(bundles["good"], breaker=BreakerParams(failure_threshold=1))
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:200]

    def broken(*_args: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(engine.metrics, "realised", broken)
    status, reply = send(engine, "KO", rows.iloc[: engine.window])
    assert status == 500 and reply == {"error": "internal error (logged by the service)"}
    assert sample(engine, "strategy_errors_total", instrument="KO", reason="internal") == 1
    assert sample(engine, "strategy_requests_total", instrument="KO", code="500") == 1
    trips = {"instrument": "KO", "reason": "internal"}
    assert sample(engine, "strategy_circuit_breaker_trips_total", **trips) == 1
    assert engine.breaker.open_instruments(engine.clock()) == ["KO"]


def test_breaker_half_open_failure_is_a_new_trip() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=10)
    assert not breaker.record_failure(0.0)
    assert breaker.record_failure(1.0)
    assert breaker.is_open(5.0)
    assert breaker.allow(11.0)
    assert breaker.record_failure(11.0)
    assert breaker.trips == 2 and breaker.is_open(12.0)
    breaker.record_success()
    assert not breaker.is_open(12.0)


def test_injected_errors_are_counted_not_fatal(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    engine = make_engine(bundles["good"], inject=FaultInjection(error_rate=1.0))
    rows = market_bars[market_bars["instrument"] == "PEP"].iloc[:200]
    status, reply = send(engine, "PEP", rows.iloc[: engine.window])
    assert status == 500 and "injected" in reply["error"]
    assert sample(engine, "strategy_errors_total", instrument="PEP", reason="injected") == 1
    assert sample(engine, "strategy_requests_total", instrument="PEP", code="500") == 1


def test_injection_hooks_are_off_by_default_and_read_from_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ServingParams().inject == FaultInjection()
    monkeypatch.setenv("SERVING_INJECT_LATENCY_MS", "250")
    monkeypatch.setenv("SERVING_INJECT_ERROR_RATE", "0.2")
    got = injection_from_env(FaultInjection())
    assert got.latency_ms == 250 and got.error_rate == 0.2


def test_bundle_needing_cross_sectional_features_is_refused(bundles: dict[str, Bundle]) -> None:
    model = load_bundle(bundles["good"].path)
    odd = type(model)(
        **{**model.__dict__, "feature_names": [*model.feature_names, "cs_rank_ret_1"]}
    )
    with pytest.raises(PipelineError, match="cs_rank_ret_1"):
        SignalEngine(odd, "v", ["KO"], ServingParams(), ServiceMetrics("v", [0.1]))


def test_timeouts_are_errors_and_answer_504(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    engine = make_engine(
        bundles["good"], request_timeout_seconds=0.05, inject=FaultInjection(latency_ms=500)
    )
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:100]
    status, reply = send(engine, "KO", rows)
    assert status == 504 and "timed out" in reply["error"]
    assert sample(engine, "strategy_errors_total", instrument="KO", reason="timeout") == 1
    assert engine.states["KO"].position == 0.0


def test_requests_for_one_instrument_are_served_in_turn(
    bundles: dict[str, Bundle], market_bars: pd.DataFrame
) -> None:
    engine = make_engine(bundles["good"], inject=FaultInjection(latency_ms=20))
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:120]
    send(engine, "KO", rows.iloc[:100])

    async def both() -> list[tuple[int, dict]]:
        first = engine.handle("KO", {"instrument": "KO", "bars": bars_payload(rows.iloc[[100]])})
        second = engine.handle("KO", {"instrument": "KO", "bars": bars_payload(rows.iloc[[101]])})
        return list(await asyncio.gather(first, second))

    (s1, a), (s2, b) = asyncio.run(both())
    assert s1 == s2 == 200
    assert a["timestamp"] == rows["timestamp"].iloc[100].isoformat()
    assert b["timestamp"] == rows["timestamp"].iloc[101].isoformat()
    assert b["realised_returns"] == (1 if a["position"] != 0 else 0)
