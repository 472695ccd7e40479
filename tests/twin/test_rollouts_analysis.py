"""Rollout and AnalysisRun controllers together: prod's real templates against a stub Prometheus.

The first canary step's AnalysisRun is measured by the twin's AnalysisRun controller with the
repository's own queries and conditions; the stub answers per metric. The clock is moved by
the test, so the 1 h window and 5 min interval of prod's settings take no time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.twin.rollouts_support import StubPrometheus
from tests.twin.test_rollouts import Cluster, first_deploy, rendered, step_index
from twin.cluster.analysis import AnalysisRunController
from twin.cluster.analysis_providers import provider_factory

__all__ = ["rendered"]


@pytest.fixture
def prom() -> Iterator[StubPrometheus]:
    stub = StubPrometheus()
    try:
        yield stub
    finally:
        stub.stop()


def with_analysis(cluster: Cluster, prom: StubPrometheus) -> AnalysisRunController:
    resolve = lambda host, port: ("127.0.0.1", prom.port)  # noqa: E731 - the cluster DNS name
    controller = AnalysisRunController(resolve=resolve, clock=cluster.clock)
    controller.store = cluster.store
    controller._providers = provider_factory(resolve, cluster.store, cluster.pods, cluster.clock)
    cluster.store.watch(controller._on_event)
    return controller


def run_for(cluster: Cluster, runs: AnalysisRunController, seconds: float, tick: float) -> None:
    elapsed = 0.0
    while True:
        for _ in range(3):
            runs.reconcile_due()
            cluster.settle()
        if elapsed >= seconds:
            return
        cluster.clock.advance(tick)
        elapsed += tick


def script(prom: StubPrometheus, **answers: Any) -> None:
    keys = {
        "error-rate": "strategy_errors_total",
        "latency": "histogram_quantile",
        "trips": "strategy_circuit_breaker_trips_total",
        "kpi": "strategy_paper_returns_total",
    }
    for name, key in keys.items():
        prom.script(key, answers.get(name, [0.0]))


def test_errors_abort_the_canary_with_argos_message(
    rendered: dict[str, list[dict[str, Any]]], prom: StubPrometheus
) -> None:
    cluster = Cluster(rendered["prod"])
    runs = with_analysis(cluster, prom)
    stable = first_deploy(cluster)
    cluster.deploy("2")
    cluster.settle()
    script(prom, **{"error-rate": [0.5], "latency": [0.01]})
    run_for(cluster, runs, 601, 300.5)
    status = cluster.status()
    assert status["phase"] == "Degraded", status
    assert status["message"] == (
        "RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase "
        'error/failed: Metric "error-rate" assessed Failed due to failed (2) > failureLimit (1)'
    )
    assert cluster.selector("strategy-service-canary") == stable
    assert all("strategy_paper" not in q for q in prom.queries)  # KPIs wait for the window


def test_too_few_paired_trades_pause_and_good_kpis_pass(
    rendered: dict[str, list[dict[str, Any]]], prom: StubPrometheus
) -> None:
    cluster = Cluster(rendered["prod"])
    runs = with_analysis(cluster, prom)
    first_deploy(cluster)
    cluster.deploy("2")
    cluster.settle()
    script(prom, latency=[0.01], kpi=[])  # the min_trades guard empties the KPI queries
    run_for(cluster, runs, 3606, 300.5)
    status = cluster.status()
    assert status["phase"] == "Paused" and status["message"] == "InconclusiveAnalysis", status
    run = cluster.store.get(
        "AnalysisRun", cluster.ns, status["canary"]["currentStepAnalysisRunStatus"]["name"]
    )
    assert run is not None and run["status"]["phase"] == "Inconclusive"
    assert run["status"]["message"].startswith('Metric "sharpe-drop" assessed Inconclusive due to')
    assert len([q for q in prom.queries if "histogram_quantile" in q]) == 12  # 1 h / 5 min
    cluster.promote()
    cluster.settle()
    assert step_index(cluster) == 6
    script(prom, latency=[0.01], kpi=[0.0])
    run_for(cluster, runs, 1803, 300.5)
    assert step_index(cluster) == 9, cluster.status()
