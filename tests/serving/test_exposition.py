"""The cached ``/metrics`` renderer writes exactly what prometheus_client's generate_latest does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from pipelines.serving.exposition import TextExposition
from pipelines.serving.metrics import ServiceMetrics


class _Odd(Collector):
    """Samples generate_latest treats specially: timestamps, gauge histograms, odd names."""

    def __init__(self) -> None:
        self.value = 1.0

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("odd_stamped", 'help with "quotes" \\ and\nnewline', labels=["k"])
        gauge.add_metric(['a"b\\c\nd'], self.value, timestamp=1_700_000_000.123)
        gauge.add_metric(["é ü 東京"], float("nan"))
        gauge.add_metric(["inf"], float("inf"))
        yield gauge
        hist = GaugeHistogramMetricFamily("odd_queue", "queue sizes", labels=["q"])
        hist.add_metric(["x"], [("1.0", 2.0), ("+Inf", 5.0)], gsum_value=7.5)
        yield hist
        yield GaugeMetricFamily("odd.dotted:name", "a name that needs escaping", value=3.0)


def _registry() -> tuple[CollectorRegistry, Counter, Gauge, Histogram, _Odd]:
    registry = CollectorRegistry(auto_describe=True)
    counter = Counter("c", "a counter", ["instrument", "reason"], registry=registry)
    gauge = Gauge("g", "a gauge", registry=registry)
    hist = Histogram("h", "latency", ["side"], buckets=(0.01, 0.1, 1.0), registry=registry)
    summary = Summary("s", "sizes", registry=registry)
    info = Info("build", "build info", registry=registry)
    enum = Enum("state", "a state", states=["up", "down"], registry=registry)
    odd = _Odd()
    registry.register(odd)
    counter.labels("AAPL", "timeout").inc(3)
    counter.labels("BRK.B", 'quo"te').inc(0.1)
    gauge.set(-1e-7)
    hist.labels("live").observe(0.05)
    hist.labels("shadow").observe(2.0)
    summary.observe(12.5)
    info.info({"version": "1.2", "commit": "abc"})
    enum.state("down")
    return registry, counter, gauge, hist, odd


@pytest.mark.parametrize("created", [True, False])
def test_every_kind_of_sample_renders_byte_for_byte_as_generate_latest(
    created: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prometheus_client.metrics as metrics

    monkeypatch.setattr(metrics, "_use_created", created)
    registry, counter, gauge, hist, odd = _registry()
    fast = TextExposition(registry)
    assert fast.render() == generate_latest(registry)
    # Values change between scrapes; the cached prefixes must not keep old values.
    counter.labels("AAPL", "timeout").inc(2)
    counter.labels("MSFT", "new").inc()
    gauge.set(42)
    hist.labels("live").observe(0.005)
    odd.value = 2.5
    assert fast.render() == generate_latest(registry)
    if created:
        assert b"c_created{" in fast.render()


def test_the_service_registry_renders_as_generate_latest_across_scrapes() -> None:
    service = ServiceMetrics("7", (0.005, 0.05, 0.5))
    service.declare_instruments(["AAPL", "MSFT", "BRK.B"])
    fast = TextExposition(service.registry)
    for step in range(3):
        service.answered("AAPL", 200, 0.01 * (step + 1))
        service.realised("MSFT", [0.01, -0.02 * step])
        service.breaker("BRK.B", step == 1, "timeout" if step == 1 else None)
        service.signal("AAPL", 1.0, 0.7)
        # The process CPU and memory series move between two renders: compare the rest.
        ours, theirs = fast.render().splitlines(), generate_latest(service.registry).splitlines()
        assert _without_process(ours) == _without_process(theirs)
        assert len(ours) == len(theirs)


def _without_process(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if not line.startswith(b"process_")]


def test_the_benchmark_checks_the_bodies_agree_and_prints_the_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks.bench_metrics import main

    assert main(["--instruments", "3", "--renders", "2"]) == 0
    assert "bodies equal" in capsys.readouterr().out
