"""Replay of a held-out period through stable and candidate engines, step by canary step.

Pure apart from the engines' in-memory state: no files, no network. Each step routes its
instruments to the candidate for its slice of the held-out period; the stable version sees the
same instruments and bars, so the comparison is like for like. The verdict uses the same rules
as the canary analysis (:func:`pipelines.delivery.analysis.analyse`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.delivery.analysis import AnalysisResult, SideStats, Thresholds, analyse
from pipelines.serving.engine import SignalEngine

HOURS_PER_BAR = {"daily": 24.0, "hourly": 1.0, "minute": 1.0 / 60.0}
_COUNTERS = {
    "returns": "strategy_paper_returns_total",
    "gain": "strategy_paper_gain_sum_total",
    "loss": "strategy_paper_loss_sum_total",
    "sq": "strategy_paper_return_squared_sum_total",
    "wins": "strategy_trade_wins_total",
    "losses": "strategy_trade_losses_total",
}


@dataclass(frozen=True)
class Step:
    """One canary step: its weight and the instruments routed to the canary."""

    weight: int
    instruments: list[str]


@dataclass(frozen=True)
class StepResult:
    """What one step replayed and its verdict."""

    step: Step
    start: pd.Timestamp
    end: pd.Timestamp
    bars: int
    result: AnalysisResult


def _counters(engine: SignalEngine, instruments: Sequence[str]) -> dict[str, float]:
    registry = engine.metrics.registry
    out = {}
    for key, name in _COUNTERS.items():
        total = 0.0
        for inst in instruments:
            labels = {"model_version": engine.version, "instrument": inst}
            total += registry.get_sample_value(name, labels) or 0.0
        out[key] = total
    return out


class SideRecorder:
    """Requests, errors and latencies of one engine during one step."""

    def __init__(self, engine: SignalEngine, instruments: Sequence[str]) -> None:
        self.engine = engine
        self.instruments = list(instruments)
        self.before = _counters(engine, instruments)
        self.trips_before = engine.breaker.trips
        self.latencies: list[float] = []
        self.errors = 0

    def send(self, instrument: str, bars: list[dict[str, object]]) -> None:
        """Send one request through the engine, timing it."""
        started = time.perf_counter()
        status, _ = asyncio.run(
            self.engine.handle(instrument, {"instrument": instrument, "bars": bars})
        )
        self.latencies.append(time.perf_counter() - started)
        if status >= 500:
            self.errors += 1

    def stats(self, span_hours: float) -> SideStats:
        """The step's window as :class:`SideStats`."""
        after = _counters(self.engine, self.instruments)
        d = {k: after[k] - self.before[k] for k in after}
        trips = self.engine.breaker.trips - self.trips_before
        return SideStats(
            requests=float(len(self.latencies)),
            errors=float(self.errors),
            latency_p99=float(np.quantile(self.latencies, 0.99)) if self.latencies else None,
            trips_per_hour=trips / span_hours if span_hours > 0 else math.nan,
            returns=d["returns"],
            return_sum=d["gain"] - d["loss"],
            return_squared_sum=d["sq"],
            wins=d["wins"],
            losses=d["losses"],
        )


def naive_stats(bars: pd.DataFrame, instruments: Sequence[str], span_hours: float) -> SideStats:
    """Stats of the naive stable (always long): used when nothing is deployed yet."""
    steps: list[float] = []
    for inst in instruments:
        close = bars.loc[bars["instrument"] == inst, "close"].to_numpy(dtype="float64")
        steps.extend(np.diff(np.log(close)).tolist())
    arr = np.asarray(steps)
    return SideStats(
        requests=float(len(arr)),
        errors=0.0,
        latency_p99=0.0,
        trips_per_hour=0.0,
        returns=float(len(arr)),
        return_sum=float(arr.sum()),
        return_squared_sum=float((arr**2).sum()),
        wins=float((arr > 0).sum()),
        losses=float((arr < 0).sum()),
    )


def _payload(rows: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {"timestamp": t.isoformat(), "close": float(c)}
        for t, c in zip(rows["timestamp"], rows["close"], strict=True)
    ]


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
        holdout_start: First bar of the held-out period.
        steps: Canary steps in order.
        candidate: Engine of the candidate model.
        stable: Engine of the stable model; None uses the naive always-long stable.
        limits: Thresholds of the environment.
        frequency: Bar frequency (for circuit-breaker trips per hour of replayed time).
    """
    stamps = np.sort(bars.loc[bars["timestamp"] >= holdout_start, "timestamp"].unique())
    slices = np.array_split(stamps, len(steps))
    engines = [e for e in (candidate, stable) if e is not None]
    warmed: set[tuple[int, str]] = set()
    results: list[StepResult] = []
    for step, chunk in zip(steps, slices, strict=True):
        if len(chunk) == 0:
            continue
        first, last = pd.Timestamp(chunk[0]), pd.Timestamp(chunk[-1])
        for engine in engines:
            for inst in step.instruments:
                if (id(engine), inst) not in warmed:
                    history = bars[(bars["instrument"] == inst) & (bars["timestamp"] < first)]
                    asyncio.run(
                        engine.handle(
                            inst,
                            {"instrument": inst, "bars": _payload(history.tail(engine.window))},
                        )
                    )
                    warmed.add((id(engine), inst))
        window = bars[
            bars["timestamp"].between(first, last) & bars["instrument"].isin(step.instruments)
        ]
        window = window.sort_values(["timestamp", "instrument"], kind="mergesort")
        span = len(chunk) * HOURS_PER_BAR.get(frequency, 24.0)
        recorders = [SideRecorder(e, step.instruments) for e in engines]
        for _, row in window.iterrows():
            one = [{"timestamp": row["timestamp"].isoformat(), "close": float(row["close"])}]
            for recorder in recorders:
                recorder.send(str(row["instrument"]), one)
        canary_stats = recorders[0].stats(span)
        stable_stats = (
            recorders[1].stats(span)
            if stable is not None
            else naive_stats(window, step.instruments, span)
        )
        result = analyse(canary_stats, stable_stats, limits)
        results.append(StepResult(step, first, last, len(chunk), result))
        if result.outcome == "fail":
            break
    return results
