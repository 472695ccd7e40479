"""AnalysisRuns measured by the twin's controller against a stub Prometheus, rule by rule.

The controller runs without its thread: the test moves a fake clock and calls
``reconcile_due``, so every measurement time is exact. Prometheus is a real HTTP stub on
127.0.0.1 whose answers are scripted per query.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.twin.rollouts_support import FakeClock, FakePods, MemoryStore, StubPrometheus
from twin.cluster.analysis import AnalysisRunController, cluster_resolver

NS = "trading-prod"


@pytest.fixture
def prom() -> Iterator[StubPrometheus]:
    stub = StubPrometheus()
    try:
        yield stub
    finally:
        stub.stop()


class Harness:
    def __init__(self, prom: StubPrometheus) -> None:
        self.store = MemoryStore()
        self.pods = FakePods()
        self.clock = FakeClock()
        resolve = lambda host, port: ("127.0.0.1", prom.port)  # noqa: E731 - the cluster name
        self.controller = AnalysisRunController(resolve=resolve, clock=self.clock)
        self.controller.start_without_thread = True  # type: ignore[attr-defined]
        self.controller.store = self.store
        from twin.cluster.analysis_providers import provider_factory

        self.controller._providers = provider_factory(resolve, self.store, self.pods, self.clock)
        self.store.watch(self.controller._on_event)

    def create(self, *metrics: dict[str, Any], args: list[dict[str, Any]] | None = None) -> None:
        self.store.apply(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisRun",
                "metadata": {"name": "run", "namespace": NS},
                "spec": {"metrics": list(metrics), "args": args or []},
            }
        )

    def step(self, seconds: float = 0.0) -> dict[str, Any]:
        self.clock.advance(seconds)
        self.controller.reconcile_due()
        return self.status()

    def status(self) -> dict[str, Any]:
        run = self.store.get("AnalysisRun", NS, "run")
        assert run is not None
        return run.get("status") or {}

    def result(self, name: str = "m") -> dict[str, Any]:
        return next(r for r in self.status()["metricResults"] if r["name"] == name)


def prom_metric(query: str = "q", **fields: Any) -> dict[str, Any]:
    return {
        "name": fields.pop("name", "m"),
        "provider": {
            "prometheus": {
                "address": "http://prometheus-operated.monitoring.svc:9090",
                "query": query,
            }
        },
        **fields,
    }


GUARDED_OK = "len(result) > 0 && result[0] <= 0.01"
GUARDED_BAD = "len(result) > 0 && result[0] > 0.01"


def test_failure_limit_is_strictly_greater(prom: StubPrometheus) -> None:
    """failureLimit 1: one failure keeps running, the second fails the metric and the run."""
    prom.script("q", [0.5])
    h = Harness(prom)
    h.create(prom_metric(successCondition=GUARDED_OK, interval="10s", count=4, failureLimit=1))
    assert h.step()["phase"] == "Running"
    assert h.result()["failed"] == 1 and h.result()["phase"] == "Running"
    assert h.step(5)["phase"] == "Running" and h.result()["count"] == 1  # interval not over
    status = h.step(6)
    assert status["phase"] == "Failed"
    assert status["message"] == 'Metric "m" assessed Failed due to failed (2) > failureLimit (1)'
    assert h.result()["measurements"][-1]["value"] == "[0.5]"


def test_failures_up_to_the_limit_pass_at_count(prom: StubPrometheus) -> None:
    prom.script("q", [0.5], [0.001], [0.001])
    h = Harness(prom)
    h.create(prom_metric(successCondition=GUARDED_OK, interval="10s", count=3, failureLimit=1))
    h.step()
    h.step(11)
    status = h.step(11)
    assert status["phase"] == "Successful", status
    assert h.result()["failed"] == 1 and h.result()["successful"] == 2
    assert status["runSummary"]["successful"] == 1


def test_inconclusive_limit(prom: StubPrometheus) -> None:
    """Neither condition holds on an empty vector: Inconclusive, past the limit the run is."""
    prom.script("q", [])
    h = Harness(prom)
    h.create(
        prom_metric(
            successCondition=GUARDED_OK,
            failureCondition=GUARDED_BAD,
            interval="10s",
            count=3,
            inconclusiveLimit=1,
        )
    )
    assert h.step()["phase"] == "Running"
    assert h.result()["inconclusive"] == 1
    status = h.step(11)
    assert status["phase"] == "Inconclusive"
    assert "inconclusive (2) > inconclusiveLimit (1)" in status["message"]


def test_empty_result_with_a_guarded_success_condition_fails(prom: StubPrometheus) -> None:
    prom.script("q", [])
    h = Harness(prom)
    h.create(prom_metric(successCondition=GUARDED_OK))
    status = h.step()
    assert status["phase"] == "Failed"
    assert h.result()["measurements"][0]["value"] == "[]"


def test_unguarded_condition_on_empty_result_is_an_error_counted_against_the_limit(
    prom: StubPrometheus,
) -> None:
    prom.script("q", [])
    h = Harness(prom)
    h.create(prom_metric(successCondition="result[0] <= 0.01", consecutiveErrorLimit=2))
    h.step()
    first = h.result()["measurements"][0]
    assert first["phase"] == "Error" and "no data returned" in first["message"]
    assert h.status()["phase"] == "Running"
    h.step(5)  # errors retry after 10 s, not earlier
    assert h.result()["error"] == 1
    h.step(6)
    assert h.result()["consecutiveError"] == 2 and h.status()["phase"] == "Running"
    status = h.step(11)
    assert status["phase"] == "Error"
    assert "consecutiveErrors (3) > consecutiveErrorLimit (2)" in status["message"]


def test_consecutive_errors_past_the_limit_error_the_run(prom: StubPrometheus) -> None:
    prom.script("q", "down", "error", [0.001])
    h = Harness(prom)
    h.create(
        prom_metric(successCondition=GUARDED_OK, interval="10s", count=3, consecutiveErrorLimit=1)
    )
    h.step()
    assert h.result()["measurements"][0]["message"].startswith('Post "http://prometheus-operated')
    h.step(10.5)
    assert h.result()["measurements"][1]["message"] == "bad_data: parse error"
    assert h.result()["error"] == 2 and h.status()["phase"] == "Error"


def test_a_success_resets_consecutive_errors(prom: StubPrometheus) -> None:
    prom.script("q", "down", [0.001], "error", [0.001], [0.001])
    h = Harness(prom)
    h.create(
        prom_metric(successCondition=GUARDED_OK, interval="10s", count=3, consecutiveErrorLimit=1)
    )
    for _ in range(6):
        h.step(10.5)
    assert h.status()["phase"] == "Successful", h.status()
    assert h.result()["error"] == 2 and h.result()["count"] == 3


def test_default_consecutive_error_limit_is_four(prom: StubPrometheus) -> None:
    prom.script("q", "down")
    h = Harness(prom)
    h.create(prom_metric(successCondition=GUARDED_OK))
    for _ in range(4):
        h.step(10.5)
    assert h.status()["phase"] == "Running" and h.result()["consecutiveError"] == 4
    assert h.step(10.5)["phase"] == "Error"


def test_initial_delay_and_interval(prom: StubPrometheus) -> None:
    prom.script("q", [0.001])
    h = Harness(prom)
    h.create(prom_metric(successCondition=GUARDED_OK, initialDelay="1m", interval="30s", count=2))
    h.step()
    assert (
        h.status()["phase"] == "Running"
        and "metricResults" not in h.status()
        or not h.status()["metricResults"]
    )
    h.step(59)
    assert not h.status().get("metricResults")
    h.step(2)
    assert h.result()["count"] == 1
    assert h.step(31)["phase"] == "Successful"
    assert len(prom.queries) == 2


def test_no_condition_counts_as_passed(prom: StubPrometheus) -> None:
    prom.script("q", [123.0])
    h = Harness(prom)
    h.create(prom_metric())
    assert h.step()["phase"] == "Successful"


def test_scalar_result(prom: StubPrometheus) -> None:
    prom.script("q", 0.004)
    h = Harness(prom)
    h.create(prom_metric(successCondition="result <= 0.01"))
    assert h.step()["phase"] == "Successful"
    assert h.result()["measurements"][0]["value"] == "0.004"


def test_args_are_resolved_and_unresolved_args_error(prom: StubPrometheus) -> None:
    prom.script('hash="abc"', [0.001])
    h = Harness(prom)
    metric = prom_metric(
        'x{hash="{{args.canary-hash}}"}', successCondition="result[0] <= {{args.max}}"
    )
    h.create(
        metric, args=[{"name": "canary-hash", "value": "abc"}, {"name": "max", "value": "0.01"}]
    )
    assert h.step()["phase"] == "Successful"
    assert prom.queries == ['x{hash="abc"}']
    h.store.delete("AnalysisRun", NS, "run")
    h.create(metric, args=[{"name": "canary-hash", "value": "abc"}])
    status = h.step()
    assert status["phase"] == "Error"
    assert status["message"] == "Unable to resolve metric arguments: failed to resolve {{args.max}}"


def test_invalid_spec_is_an_error(prom: StubPrometheus) -> None:
    h = Harness(prom)
    h.create(prom_metric(successCondition=GUARDED_OK, count=3))
    status = h.step()
    assert status["phase"] == "Error"
    assert (
        status["message"]
        == "Analysis spec invalid: metrics[0]: interval must be specified when count > 1"
    )


def test_worst_metric_wins_and_a_failed_metric_terminates_the_others(prom: StubPrometheus) -> None:
    prom.script("bad", [1.0])
    prom.script("slow", [0.001])
    h = Harness(prom)
    h.create(
        prom_metric("bad", name="bad", successCondition=GUARDED_OK),
        prom_metric("slow", name="slow", successCondition=GUARDED_OK, initialDelay="1h"),
    )
    assert h.step()["phase"] == "Running"  # as Argo: terminating is seen on the next reconcile
    status = h.step()
    assert status["phase"] == "Failed"
    assert [r["name"] for r in status["metricResults"]] == ["bad"]  # "slow" never measured
    assert prom.queries == ["bad"]


def test_terminate_ends_the_run_successfully(prom: StubPrometheus) -> None:
    prom.script("q", [0.001])
    h = Harness(prom)
    h.create(prom_metric(successCondition=GUARDED_OK, interval="10s", count=10))
    h.step()
    run = h.store.get("AnalysisRun", NS, "run")
    assert run is not None
    run["spec"]["terminate"] = True
    h.store.apply(run)
    status = h.step(1)
    assert status["phase"] == "Successful" and status["message"] == "Run Terminated"


def test_dry_run_metrics_do_not_decide(prom: StubPrometheus) -> None:
    prom.script("bad", [1.0])
    prom.script("good", [0.001])
    h = Harness(prom)
    h.create(
        prom_metric("bad", name="bad", successCondition=GUARDED_OK),
        prom_metric("good", name="good", successCondition=GUARDED_OK),
    )
    run = h.store.get("AnalysisRun", NS, "run")
    assert run is not None
    run["spec"]["dryRun"] = [{"metricName": "bad"}]
    h.store.apply(run)
    assert h.step()["phase"] == "Successful"
    assert h.result("bad")["phase"] == "Failed" and h.result("bad")["dryRun"] is True


def job_metric(**fields: Any) -> dict[str, Any]:
    return {
        "name": "job",
        "provider": {
            "job": {
                "spec": {
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": 60,
                    "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}},
                }
            }
        },
        **fields,
    }


@pytest.mark.parametrize(
    ("pod_phase", "expected"), [("Succeeded", "Successful"), ("Failed", "Failed")]
)
def test_job_provider_success_is_exit_zero(
    prom: StubPrometheus, pod_phase: str, expected: str
) -> None:
    h = Harness(prom)
    h.pods.auto_ready = False
    h.create(job_metric())
    assert h.step()["phase"] == "Running"
    (pod,) = h.pods.list(NS)
    assert pod.labels["job-name"] == "run-job-1"
    assert h.store.get("Job", NS, "run-job-1") is not None
    pod.phase = pod_phase
    status = h.step(1)
    assert status["phase"] == expected
    assert not h.pods.list(NS)
    job = h.store.get("Job", NS, "run-job-1")
    assert job is not None
    assert job["status"]["conditions"][0]["type"] == (
        "Complete" if expected == "Successful" else "Failed"
    )


def test_job_past_its_deadline_fails(prom: StubPrometheus) -> None:
    h = Harness(prom)
    h.pods.auto_ready = False
    h.create(job_metric())
    h.step()
    h.step(61)
    status = h.step(20)
    assert status["phase"] == "Failed"
    assert "deadline" in h.result("job")["measurements"][-1]["message"]


def test_terminating_a_job_measurement_is_inconclusive_then_run_terminated(
    prom: StubPrometheus,
) -> None:
    h = Harness(prom)
    h.create(job_metric())
    h.step()
    run = h.store.get("AnalysisRun", NS, "run")
    assert run is not None
    run["spec"]["terminate"] = True
    h.store.apply(run)
    status = h.step(1)
    measurement = h.result("job")["measurements"][-1]
    assert measurement["phase"] == "Inconclusive" and measurement["message"] == "Metric Terminated"
    assert status["phase"] == "Inconclusive"
    assert not h.pods.list(NS)


def test_cluster_resolver_uses_state_json(tmp_path: Any) -> None:
    from twin import state

    state.register(tmp_path, "prometheus", pid=1, url="http://127.0.0.1:41234")
    resolve = cluster_resolver(tmp_path, object())
    assert resolve("prometheus-operated.monitoring.svc", 9090) == ("127.0.0.1", 41234)
    assert resolve("elsewhere", 80) == ("elsewhere", 80)
