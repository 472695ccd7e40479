"""Replay of a held-out period through stable and candidate engines, step by canary step.

Pure apart from the engines' in-memory state: no files, no network. As in prod's canary, the
candidate sees every bar: the instruments routed to it at a step as live traffic, the others as
mirrored (shadow) copies of the stable's live requests. Each step's verdict uses the rules of
the AnalysisTemplates (:func:`pipelines.delivery.analysis.analyse`): the candidate's service
level over all its requests, and the trading KPIs paired on the instruments not yet routed
(none left at 100%: service level only).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.delivery.analysis import (
    AnalysisResult,
    ServiceStats,
    Thresholds,
    TradeStats,
    analyse,
)
from pipelines.monitoring.metric_names import TRAFFIC_LIVE, TRAFFIC_SHADOW
from pipelines.serving.engine import SignalEngine

HOURS_PER_BAR = {"daily": 24.0, "hourly": 1.0, "minute": 1.0 / 60.0}
_COUNTERS = {
    "returns": "strategy_paper_returns_total",
    "gain": "strategy_paper_gain_sum_total",
    "loss": "strategy_paper_loss_sum_total",
    "squared": "strategy_paper_return_squared_sum_total",
    "wins": "strategy_trade_wins_total",
    "losses": "strategy_trade_losses_total",
}


@dataclass(frozen=True)
class Step:
    """One canary step: its weight, the instruments routed live, those compared pairwise."""

    weight: int
    routed: list[str]
    paired: list[str]


@dataclass(frozen=True)
class StepResult:
    """What one step replayed and its verdict."""

    step: Step
    start: pd.Timestamp
    end: pd.Timestamp
    bars: int
    result: AnalysisResult


def _counters(engine: SignalEngine, instruments: Sequence[str], traffic: str) -> dict[str, dict]:
    registry = engine.metrics.registry
    out: dict[str, dict] = {}
    for key, name in _COUNTERS.items():
        out[key] = {
            inst: registry.get_sample_value(
                name, {"model_version": engine.version, "instrument": inst, "traffic": traffic}
            )
            or 0.0
            for inst in instruments
        }
    return out


class Recorder:
    """Requests, errors, latencies and paper returns of one engine during one step."""

    def __init__(self, engine: SignalEngine, paired: Sequence[str], traffic: str) -> None:
        self.engine = engine
        self.paired = list(paired)
        self.traffic = traffic
        self.before = _counters(engine, paired, traffic)
        self.trips_before = engine.breaker.trips
        self.latencies: list[float] = []
        self.errors = 0

    def send(self, instrument: str, bars: list[dict[str, object]], traffic: str) -> None:
        """Send one request through the engine, timing it."""
        started = time.perf_counter()
        status, _ = asyncio.run(
            self.engine.handle(instrument, {"instrument": instrument, "bars": bars}, traffic)
        )
        self.latencies.append(time.perf_counter() - started)
        if status >= 500:
            self.errors += 1

    def service(self, span_hours: float) -> ServiceStats:
        """The step's service level."""
        trips = self.engine.breaker.trips - self.trips_before
        return ServiceStats(
            requests=float(len(self.latencies)),
            errors=float(self.errors),
            latency_p99=float(np.quantile(self.latencies, 0.99)) if self.latencies else None,
            trips_per_hour=trips / span_hours if span_hours > 0 else math.nan,
        )

    def trades(self) -> TradeStats:
        """The step's paper returns on the paired instruments."""
        after = _counters(self.engine, self.paired, self.traffic)
        d = {k: {i: after[k][i] - self.before[k][i] for i in self.paired} for k in after}
        return TradeStats(
            returns_by_instrument=d["returns"],
            **{k: float(sum(d[k].values())) for k in ("gain", "loss", "squared", "wins", "losses")},
        )


def naive_trades(bars: pd.DataFrame, instruments: Sequence[str]) -> TradeStats:
    """Paper returns of the naive stable (always long): used when nothing is deployed yet."""
    counts: dict[str, float] = {}
    steps: list[float] = []
    for inst in instruments:
        close = bars.loc[bars["instrument"] == inst, "close"].to_numpy(dtype="float64")
        diffs = np.diff(np.log(close)).tolist()
        counts[inst] = float(len(diffs))
        steps.extend(diffs)
    arr = np.asarray(steps, dtype="float64")
    return TradeStats(
        returns_by_instrument=counts,
        gain=float(arr[arr > 0].sum()),
        loss=float(-arr[arr < 0].sum()),
        squared=float((arr**2).sum()),
        wins=float((arr > 0).sum()),
        losses=float((arr < 0).sum()),
    )


def _payload(rows: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {"timestamp": t.isoformat(), "close": float(c)}
        for t, c in zip(rows["timestamp"], rows["close"], strict=True)
    ]


def _warm(engines: list[SignalEngine], bars: pd.DataFrame, first: pd.Timestamp) -> None:
    """Fill every engine's buffers with the history before the held-out period."""
    for engine in engines:
        for inst in sorted(bars["instrument"].unique()):
            history = bars[(bars["instrument"] == inst) & (bars["timestamp"] < first)]
            body = {"instrument": inst, "bars": _payload(history.tail(engine.window))}
            if body["bars"]:
                asyncio.run(engine.handle(inst, body))


def replay_steps(
    bars: pd.DataFrame,
    holdout_start: pd.Timestamp,
    steps: Sequence[Step],
    candidate: SignalEngine,
    stable: SignalEngine | None,
    limits: Thresholds,
    frequency: str,
) -> list[StepResult]:
    """Replay the held-out period, split evenly over the steps; stop at the first failed step.

    Args:
        bars: Long-format bars including history before ``holdout_start`` (for warm-up).
        holdout_start: First bar of the held-out period (after the candidate's training).
        steps: Canary steps in order.
        candidate: Engine of the candidate model.
        stable: Engine of the stable model; None uses the naive always-long stable.
        limits: Thresholds of the environment.
        frequency: Bar frequency (for circuit-breaker trips per hour of replayed time).
    """
    stamps = np.sort(bars.loc[bars["timestamp"] >= holdout_start, "timestamp"].unique())
    slices = np.array_split(stamps, len(steps))
    _warm([e for e in (candidate, stable) if e is not None], bars, pd.Timestamp(stamps[0]))
    results: list[StepResult] = []
    for step, chunk in zip(steps, slices, strict=True):
        if len(chunk) == 0:
            continue
        first, last = pd.Timestamp(chunk[0]), pd.Timestamp(chunk[-1])
        window = bars[bars["timestamp"].between(first, last)]
        window = window.sort_values(["timestamp", "instrument"], kind="mergesort")
        span = len(chunk) * HOURS_PER_BAR.get(frequency, 24.0)
        routed = set(step.routed)
        cand = Recorder(candidate, step.paired, TRAFFIC_SHADOW)
        stab = Recorder(stable, step.paired, TRAFFIC_LIVE) if stable is not None else None
        for _, row in window.iterrows():
            inst = str(row["instrument"])
            one = [{"timestamp": row["timestamp"].isoformat(), "close": float(row["close"])}]
            live = inst in routed
            cand.send(inst, one, TRAFFIC_LIVE if live else TRAFFIC_SHADOW)
            if stab is not None and not live:
                stab.send(inst, one, TRAFFIC_LIVE)
        canary_trades = stable_trades = None
        if step.paired:
            paired_bars = window[window["instrument"].isin(step.paired)]
            canary_trades = cand.trades()
            stable_trades = (
                stab.trades() if stab is not None else naive_trades(paired_bars, step.paired)
            )
        result = analyse(cand.service(span), canary_trades, stable_trades, limits)
        results.append(StepResult(step, first, last, len(chunk), result))
        if result.outcome == "fail":
            break
    return results
