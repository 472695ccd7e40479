"""The twin's Rollout controller on the repository's own rendered prod and staging overlays.

In-memory store, pods that are ready when started (or never), a clock the test moves; the
AnalysisRuns the controller creates are finished by the test (the AnalysisRun controller is
tested on its own and, end to end, in ``test_rollouts_analysis.py``).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pipelines.delivery.lint.runner import render
from tests.conftest import REPO_ROOT, require_tool
from tests.twin.rollouts_support import FakeClock, FakePods, MemoryStore
from twin.cluster.rollouts import RolloutController
from twin.cluster.rollouts_replicasets import HASH_LABEL, SCALE_DOWN_DEADLINE, pod_template_hash

PROD, STAGING = "trading-prod", "trading-staging"
UNROUTED_5 = "^(AAPL|AMD|BAC|BBY|CVX|GE|HD|JNJ|JPM|LLY|MRK|MSFT|PEP|PFE|PG|RRC|UNH|WMT|XOM)$"


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    require_tool("kubectl")
    return {env: render(REPO_ROOT / "environments" / env) for env in ("prod", "staging")}


class Cluster:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.store = MemoryStore()
        self.pods = FakePods()
        self.clock = FakeClock()
        self.controller = RolloutController(clock=self.clock)
        self.controller.attach(self.store, self.pods)
        self.docs = docs
        for doc in docs:
            self.store.apply(doc)
        self.rollout = next(d for d in docs if d["kind"] == "Rollout")
        self.ns = self.rollout["metadata"]["namespace"]

    def settle(self, rounds: int = 40) -> dict[str, Any]:
        before = None
        for _ in range(rounds):
            self.controller.reconcile_due()
            now = self.status()
            if now == before:
                break
            before = copy.deepcopy(now)
        return self.status()

    def status(self) -> dict[str, Any]:
        found = self.store.get("Rollout", self.ns, "strategy-service")
        assert found is not None
        return found.get("status") or {}

    def deploy(self, revision: str) -> str:
        """Apply the Rollout with a different pod template (as a new manifest would)."""
        rollout = copy.deepcopy(self.rollout)
        env = rollout["spec"]["template"]["spec"]["containers"][0].setdefault("env", [])
        env.append({"name": "TWIN_REVISION", "value": revision})
        self.store.apply(rollout)
        return pod_template_hash(rollout["spec"]["template"])

    def runs(self, phase: str | None = None) -> list[dict[str, Any]]:
        found = self.store.list("AnalysisRun", self.ns)
        return [r for r in found if phase is None or (r.get("status") or {}).get("phase") == phase]

    def finish_runs(self, phase: str, message: str = "") -> list[dict[str, Any]]:
        open_runs = [r for r in self.runs() if not (r.get("status") or {}).get("phase")]
        for run in open_runs:
            status = {"phase": phase, **({"message": message} if message else {})}
            self.store.update_status("AnalysisRun", self.ns, run["metadata"]["name"], status)
        return open_runs

    def selector(self, service: str) -> str:
        found = self.store.get("Service", self.ns, service)
        assert found is not None
        return str(found["spec"]["selector"].get(HASH_LABEL, ""))

    def routes(self) -> list[dict[str, Any]]:
        found = self.store.get("VirtualService", self.ns, "strategy-service")
        assert found is not None
        return list(found["spec"]["http"])

    def pods_of(self, pod_hash: str) -> int:
        return sum(1 for p in self.pods.list(self.ns) if p.labels.get(HASH_LABEL) == pod_hash)

    def promote(self) -> None:
        """What the kubectl-argo-rollouts shim does for ``promote``."""
        status = self.status()
        status.pop("pauseConditions", None)
        status["controllerPause"] = False
        self.store.update_status("Rollout", self.ns, "strategy-service", status)


def first_deploy(cluster: Cluster) -> str:
    status = cluster.settle()
    stable = status["stableRS"]
    assert status["phase"] == "Healthy", status
    assert cluster.pods_of(stable) == cluster.rollout["spec"]["replicas"]
    assert not cluster.runs()  # the first deploy runs no analysis
    return str(stable)


def step_index(cluster: Cluster) -> int:
    return int(cluster.status()["currentStepIndex"])


def test_canary_walks_every_step_and_promotes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    cluster = Cluster(rendered["prod"])
    stable = first_deploy(cluster)
    assert cluster.status()["currentStepIndex"] == 13
    canary = cluster.deploy("2")
    status = cluster.settle()
    assert status["phase"] == "Progressing" and status["currentPodHash"] == canary
    assert step_index(cluster) == 3  # scale, mirror, header route done; analysis running
    assert cluster.pods_of(canary) == 1 and cluster.pods_of(stable) == 4
    assert cluster.selector("strategy-service") == stable
    assert cluster.selector("strategy-service-canary") == canary
    names = [r.get("name") for r in cluster.routes()]
    assert names == ["instruments-5", "mirror-all", "primary"]  # header routes rank first
    mirror = cluster.routes()[1]
    assert mirror["mirror"] == {"host": "strategy-service-canary"}
    assert mirror["mirrorPercentage"] == {"value": 100.0}
    assert mirror["route"][0]["destination"]["host"] == "strategy-service"
    (run,) = cluster.runs()
    args = {a["name"]: a["value"] for a in run["spec"]["args"]}
    assert args["canary-hash"] == canary and args["stable-hash"] == stable
    assert args["instruments"] == UNROUTED_5 and args["window"] == "1h" and args["count"] == "12"
    assert [m["name"] for m in run["spec"]["metrics"]] == [
        "error-rate",
        "latency-p99",
        "circuit-breaker-trips",
        "sharpe-drop",
        "win-rate-drop",
        "pnl-drop",
    ]
    assert run["metadata"]["labels"]["step-index"] == "3"
    for expected_step, canary_pods in ((6, 1), (9, 2), (12, 4)):
        cluster.finish_runs("Successful")
        cluster.settle()
        assert step_index(cluster) == expected_step, cluster.status()
        assert cluster.pods_of(canary) == canary_pods
    assert [r.get("name") for r in cluster.routes()] == [
        "instruments-5",
        "instruments-25",
        "instruments-50",
        "instruments-100",
        "mirror-all",
        "primary",
    ]
    last = max(cluster.runs(), key=lambda r: int(r["metadata"]["labels"]["step-index"]))
    assert last["metadata"]["labels"]["step-index"] == "12"
    assert [m["name"] for m in last["spec"]["metrics"]] == [
        "error-rate",
        "latency-p99",
        "circuit-breaker-trips",
    ]
    cluster.finish_runs("Successful")
    status = cluster.settle()
    assert status["stableRS"] == canary and status["phase"] == "Healthy", status
    assert [r.get("name") for r in cluster.routes()] == ["primary"]
    assert cluster.selector("strategy-service") == canary
    assert cluster.selector("strategy-service-canary") == canary
    old = cluster.store.get("ReplicaSet", PROD, f"strategy-service-{stable}")
    assert old is not None and SCALE_DOWN_DEADLINE in old["metadata"]["annotations"]
    assert cluster.pods_of(stable) == 4  # kept for scaleDownDelaySeconds (30 s)
    cluster.clock.advance(31)
    cluster.settle()
    assert cluster.pods_of(stable) == 0 and cluster.pods_of(canary) == 4


def test_a_settled_rollout_is_not_written_again(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # The controller wakes on every write to a Rollout, so a pass that rewrites an unchanged
    # condition with a new lastUpdateTime would keep it reconciling at full speed for ever.
    for env in ("prod", "staging"):
        cluster = Cluster(rendered[env])
        first_deploy(cluster)
        settled = cluster.store.get("Rollout", cluster.ns, "strategy-service")
        assert settled is not None and settled["status"]["phase"] == "Healthy"
        for _ in range(3):
            cluster.clock.advance(5)
            cluster.controller.reconcile_due()
        again = cluster.store.get("Rollout", cluster.ns, "strategy-service")
        assert again is not None
        assert again["metadata"]["resourceVersion"] == settled["metadata"]["resourceVersion"], env


def test_failed_analysis_aborts_restores_routes_and_rollback_is_healthy(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    cluster = Cluster(rendered["prod"])
    stable = first_deploy(cluster)
    canary = cluster.deploy("2")
    cluster.settle()
    message = 'Metric "error-rate" assessed Failed due to failed (2) > failureLimit (1)'
    cluster.finish_runs("Failed", message)
    status = cluster.settle()
    assert status["phase"] == "Degraded" and status["abort"] is True
    rs = f"Rollout aborted update to revision 2: Step-based analysis phase error/failed: {message}"
    assert status["message"] == f"RolloutAborted: {rs}"
    assert [r.get("name") for r in cluster.routes()] == ["primary"]
    weights = [d["weight"] for d in cluster.routes()[0]["route"]]
    assert weights == [100, 0]
    assert cluster.selector("strategy-service-canary") == stable  # canary Service back to stable
    assert cluster.pods_of(canary) == 1  # abortScaleDownDelaySeconds: 30
    cluster.clock.advance(31)
    cluster.settle()
    assert cluster.pods_of(canary) == 0 and cluster.pods_of(stable) == 4
    assert cluster.status()["phase"] == "Degraded"
    # the repository's rollback: the stable template again
    cluster.store.apply(cluster.rollout)
    status = cluster.settle()
    assert status["phase"] == "Healthy" and status["stableRS"] == stable, status
    assert "abort" not in status and status["currentStepIndex"] == 13


def test_inconclusive_analysis_pauses_until_a_person_promotes(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    cluster = Cluster(rendered["prod"])
    first_deploy(cluster)
    cluster.deploy("2")
    cluster.settle()
    cluster.finish_runs("Inconclusive", 'Metric "sharpe-drop" assessed Inconclusive due to ...')
    status = cluster.settle()
    assert status["phase"] == "Paused" and status["message"] == "InconclusiveAnalysis"
    assert step_index(cluster) == 3
    cluster.clock.advance(3600)  # a pause waits for a person, never times out
    assert cluster.settle()["phase"] == "Paused"
    cluster.promote()
    status = cluster.settle()
    assert status["phase"] == "Progressing" and step_index(cluster) == 6, status
    assert len(cluster.runs()) == 2  # the next group's analysis runs


def test_manual_abort_and_retry(rendered: dict[str, list[dict[str, Any]]]) -> None:
    cluster = Cluster(rendered["prod"])
    first_deploy(cluster)
    canary = cluster.deploy("2")
    cluster.settle()
    status = cluster.status() | {"abort": True}
    cluster.store.update_status("Rollout", PROD, "strategy-service", status)
    status = cluster.settle()
    assert status["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert cluster.runs()[0]["spec"]["terminate"] is True
    status = cluster.status() | {"abort": False}
    cluster.store.update_status("Rollout", PROD, "strategy-service", status)
    status = cluster.settle()
    assert status["phase"] == "Progressing" and step_index(cluster) == 3, status
    assert status["currentPodHash"] == canary and len(cluster.runs()) == 2


def test_rollback_window_fast_tracks_a_recent_revision(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    cluster = Cluster(rendered["prod"])
    first = first_deploy(cluster)
    cluster.deploy("2")
    cluster.settle()
    for _ in range(4):
        cluster.finish_runs("Successful")
        cluster.settle()
    assert cluster.status()["phase"] == "Healthy"
    runs = len(cluster.runs())
    cluster.store.apply(cluster.rollout)  # back to revision 1 while its pods still run
    status = cluster.settle()
    assert status["stableRS"] == first and status["phase"] == "Healthy", status
    assert len(cluster.runs()) == runs  # no step, no analysis
    # once the old ReplicaSet is scaled down, going back takes every step again
    second = cluster.deploy("2")
    cluster.clock.advance(31)
    status = cluster.settle()
    assert status["phase"] == "Progressing" and status["currentPodHash"] == second


def test_progress_deadline_aborts_a_canary_that_never_becomes_ready(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    cluster = Cluster(rendered["prod"])
    stable = first_deploy(cluster)
    cluster.pods.auto_ready = False
    canary = cluster.deploy("2")
    status = cluster.settle()
    assert step_index(cluster) == 0 and status["phase"] == "Progressing"
    cluster.clock.advance(601)
    status = cluster.settle()
    assert status["phase"] == "Degraded", status
    assert status["message"] == (
        "RolloutAborted: Rollout aborted update to revision 2: ReplicaSet "
        f'"strategy-service-{canary}" has timed out progressing.'
    )
    assert cluster.selector("strategy-service") == stable


def test_blue_green_analysis_switch_and_scale_down_delay(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    cluster = Cluster(rendered["staging"])
    active = first_deploy(cluster)
    assert cluster.selector("strategy-service") == active
    preview = cluster.deploy("2")
    status = cluster.settle()
    assert (
        status["phase"] == "Progressing" and status["message"] == "active service cutover pending"
    )
    assert cluster.selector("strategy-service-preview") == preview
    assert cluster.selector("strategy-service") == active
    (pre,) = cluster.runs()
    assert pre["metadata"]["labels"]["rollout-type"] == "PrePromotion"
    args = {a["name"]: a["value"] for a in pre["spec"]["args"]}
    assert (args["canary-hash"], args["stable-hash"]) == (preview, active)
    assert args["window"] == "30m"
    cluster.finish_runs("Successful")
    status = cluster.settle()
    assert cluster.selector("strategy-service") == preview
    assert status["message"] == "waiting for analysis to complete"
    (post,) = [
        r for r in cluster.runs() if r["metadata"]["labels"]["rollout-type"] == "PostPromotion"
    ]
    assert [m["name"] for m in post["spec"]["metrics"]] == [
        "error-rate",
        "latency-p99",
        "circuit-breaker-trips",
    ]
    cluster.finish_runs("Successful")
    status = cluster.settle()
    assert status["phase"] == "Healthy" and status["stableRS"] == preview
    assert cluster.pods_of(active) == 2  # the old version stays scaleDownDelaySeconds (24 h)
    cluster.clock.advance(86_399)
    cluster.settle()
    assert cluster.pods_of(active) == 2
    cluster.clock.advance(2)
    cluster.settle()
    assert cluster.pods_of(active) == 0 and cluster.pods_of(preview) == 2


@pytest.mark.parametrize("kind", ["pre", "post"])
def test_blue_green_failed_analysis_keeps_or_restores_the_active_version(
    rendered: dict[str, list[dict[str, Any]]], kind: str
) -> None:
    cluster = Cluster(rendered["staging"])
    active = first_deploy(cluster)
    preview = cluster.deploy("2")
    cluster.settle()
    if kind == "post":
        cluster.finish_runs("Successful")
        cluster.settle()
        assert cluster.selector("strategy-service") == preview
    cluster.finish_runs("Failed", "boom")
    status = cluster.settle()
    assert status["phase"] == "Degraded"
    assert status["message"] == (
        "RolloutAborted: Rollout aborted update to revision 2: Blue/green "
        f"{kind}-promotion analysis phase error/failed: boom"
    )
    assert cluster.selector("strategy-service") == active
    cluster.clock.advance(31)
    cluster.settle()
    assert cluster.pods_of(preview) == 0 and cluster.pods_of(active) == 2


def test_blue_green_without_auto_promotion_waits_for_promote(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = copy.deepcopy(rendered["staging"])
    rollout = next(d for d in docs if d["kind"] == "Rollout")
    rollout["spec"]["strategy"]["blueGreen"]["autoPromotionEnabled"] = False
    cluster = Cluster(docs)
    active = first_deploy(cluster)
    preview = cluster.deploy("2")
    cluster.settle()
    cluster.finish_runs("Successful")
    status = cluster.settle()
    assert status["phase"] == "Paused" and status["message"] == "BlueGreenPause"
    assert cluster.selector("strategy-service") == active
    cluster.promote()
    cluster.settle()
    assert cluster.selector("strategy-service") == preview


def test_dev_replaces_its_pod_without_steps() -> None:
    require_tool("kubectl")
    cluster = Cluster(render(REPO_ROOT / "environments" / "dev"))
    first = first_deploy(cluster)
    cluster.pods.auto_ready = False
    second = cluster.deploy("2")
    status = cluster.settle()
    assert status["phase"] == "Progressing" and cluster.pods_of(first) == 1
    assert status["message"] == "old replicas are pending termination"
    for pod in cluster.pods.list(cluster.ns):
        pod.ready = True
    status = cluster.settle()
    assert status["phase"] == "Healthy" and status["stableRS"] == second
    assert cluster.pods_of(first) == 0 and cluster.pods_of(second) == 1
    assert not cluster.runs()
