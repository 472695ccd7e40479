"""The whole Rollouts side of the twin, running: real pods, mesh, feed, Prometheus, analysis.

Started on loopback addresses and stopped by PID: `pipelines serve` pods (a PodRunner double
that runs the ConfigMap-mounted manifest, each pod on its own 127.0.200.x address) and Debian's
`prometheus` reading the file_sd targets the ServiceMonitor controller writes. The controllers
run in their own threads against an in-memory store holding prod's rendered Services,
VirtualService, DestinationRules, ServiceMonitor and both AnalysisTemplates, and a Rollout
whose strategy ``pipelines.delivery.canary`` generates from short twin-like settings. The feed
sends held-out bars through the mesh. A healthy canary walks every step and becomes stable; a
canary with injected errors is aborted by its analysis and traffic goes back to stable.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pipelines.delivery import canary
from pipelines.delivery.lint.runner import render
from tests.conftest import REPO_ROOT, require_tool
from tests.serving.conftest import Bundle, load_long, train
from tests.twin.rollouts_support import FakePods, MemoryStore
from twin import procs
from twin.cluster.analysis import AnalysisRunController
from twin.cluster.feed import MarketFeed
from twin.cluster.interfaces import Pod
from twin.cluster.mesh import Mesh
from twin.cluster.monitoring import ServiceMonitorTargets
from twin.cluster.rollouts import RolloutController

NS = "trading-prod"
INSTRUMENTS = ["KO", "PEP", "PG", "JNJ"]
SETTINGS = {
    "environment": "prod",
    "replicas": 2,
    "strategy": "canary",
    "instrument_groups": [
        {"weight": 50, "instruments": ["KO", "PEP"]},
        {"weight": 100, "instruments": INSTRUMENTS},
    ],
    "instruments": INSTRUMENTS,
    "analysis": {
        "error_rate_max": 0.01,
        "latency_p99_max_seconds": 0.2,
        "circuit_breaker_trips_per_hour_max": 5,
        "sharpe_drop_max": 0.2,
        "win_rate_drop_max": 0.05,
        "pnl_drop_max": 0.1,
        "min_trades": 20,
    },
    "schedule": {
        "interval": "3s",
        "resolution": "500ms",
        "first_step": "20s",
        "step": "6s",
        "post_switch": "6s",
    },
    "abort_scale_down_delay_seconds": 0,
}
ADDRESSES = (f"127.0.200.{n}" for n in itertools.count(2))


class ServePods(FakePods):
    """Pods as `pipelines serve` processes, the manifest ConfigMap written to a folder."""

    def __init__(self, store: MemoryStore, root: Path) -> None:
        super().__init__(auto_ready=False)
        self.store, self.root = store, root

    def start(self, namespace: str, name: str, pod_spec: dict, labels: Any) -> Pod:
        ip = next(ADDRESSES)
        port, metrics_port = (self._free(ip) for _ in range(2))
        spec = copy.deepcopy(pod_spec)
        container = spec["containers"][0]
        container["ports"] = [
            {"name": "http", "containerPort": port},
            {"name": "metrics", "containerPort": metrics_port},
        ]
        folder = self.root / name
        folder.mkdir(parents=True)
        volume = next(v for v in spec.get("volumes") or [] if "configMap" in v)
        config = self.store.get("ConfigMap", namespace, volume["configMap"]["name"])
        assert config is not None
        for key, text in config["data"].items():
            (folder / key).write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_INJECT_")}
        env |= {e["name"]: e["value"] for e in container.get("env") or []}
        env |= {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
        argv = [
            sys.executable,
            "-m",
            "pipelines",
            "serve",
            "--manifest",
            str(folder / "model.yaml"),
        ]
        argv += ["--settings", str(folder / "settings.yaml"), "--host", ip, "--port", str(port)]
        argv += ["--metrics-port", str(metrics_port)]
        proc = procs.spawn(name, argv, log_dir=self.root / "logs", env=env, cwd=REPO_ROOT)
        pod = Pod(namespace, name, ip, dict(labels), spec, "Running", False)
        pod.extra["pid"] = proc.pid
        self.pods[(namespace, name)] = pod
        return pod

    @staticmethod
    def _free(ip: str) -> int:
        with socket.socket() as sock:
            sock.bind((ip, 0))
            return int(sock.getsockname()[1])

    def probe(self) -> None:
        """Readiness as kubelet sees it: GET /readyz on the pod address."""
        for pod in list(self.pods.values()):
            if pod.ready:
                continue
            port = pod.spec["containers"][0]["ports"][0]["containerPort"]
            try:
                pod.ready = (
                    httpx.get(f"http://{pod.ip}:{port}/readyz", timeout=1).status_code == 200
                )
            except httpx.TransportError:
                pod.ready = False

    def delete(self, pod: Pod, grace_seconds: float | None = None) -> None:
        if self.pods.pop((pod.namespace, pod.name), None) is not None:
            pod.ready = False
            procs.stop(int(pod.extra["pid"]), timeout=10)

    def stop_all(self) -> None:
        for pod in list(self.pods.values()):
            self.delete(pod)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Bundle]:
    bars = load_long(INSTRUMENTS, "2012-01-01", "2015-12-31")
    span = {"train_span": [str(bars["timestamp"].min()), str(bars["timestamp"].max())]}
    root = tmp_path_factory.mktemp("bundles")
    return {"good": train(bars, root / "good.json", "good-1", metadata=span)}


class Twin:
    def __init__(self, root: Path, bundle: Bundle) -> None:
        self.root, self.bundle = root, bundle
        self.store = MemoryStore()
        self.pods = ServePods(self.store, root / "pods")
        docs = render(REPO_ROOT / "environments" / "prod")
        for doc in docs:
            if doc["kind"] in (
                "Service",
                "VirtualService",
                "DestinationRule",
                "ServiceMonitor",
                "AnalysisTemplate",
            ):
                self.store.apply(doc)
        rollout = next(d for d in docs if d["kind"] == "Rollout")
        for op in canary.strategy_patch(SETTINGS):
            rollout["spec"][op["path"].removeprefix("/spec/")] = op["value"]
        template = rollout["spec"]["template"]["spec"]
        template["containers"] = [{"name": "strategy", "image": "strategy-service", "env": []}]
        self.rollout = rollout
        self.prometheus_port = procs.free_port()
        self.started: list[Any] = []
        self.prom: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = require_tool("prometheus", "PROMETHEUS")
        config = self.root / "prometheus.yml"
        sd = self.root / "prometheus" / "file_sd" / "*.json"
        sd.parent.mkdir(parents=True)  # watched only if it exists when Prometheus starts
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "500ms", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "pods",
                            "file_sd_configs": [{"files": [str(sd)], "refresh_interval": "1s"}],
                        }
                    ],
                }
            )
        )
        argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={self.root / 'tsdb'}"]
        argv += [f"--web.listen-address=127.0.0.1:{self.prometheus_port}", "--log.level=warn"]
        self.prom = procs.spawn("prometheus", argv, log_dir=self.root / "logs")
        url = f"http://127.0.0.1:{self.prometheus_port}"
        procs.wait_until("prometheus", procs.http_ok(f"{url}/-/ready"), timeout=30, proc=self.prom)
        self.mesh = Mesh(bind="127.0.0.1", poll_seconds=0.5)
        resolve = self.resolve
        self.rollouts = RolloutController(poll_seconds=0.3)
        self.analysis = AnalysisRunController(resolve=resolve, poll_seconds=0.2)
        self.monitor = ServiceMonitorTargets(self.root, poll_seconds=0.5)
        self.feed = MarketFeed(None, resolve=resolve)
        for controller in (self.mesh, self.rollouts, self.analysis, self.monitor, self.feed):
            controller.start(self.store, self.pods)
            self.started.append(controller)

    def resolve(self, host: str, port: int) -> tuple[str, int]:
        if host.startswith("prometheus-operated"):
            return "127.0.0.1", self.prometheus_port
        found = self.mesh.address(NS, host.split(".")[0], port)
        assert found is not None, host
        return found

    def deploy(self, version: str, **env: str) -> None:
        from tests.registry.fixtures import manifest as promoted_unit

        uri = f"file://{self.bundle.path}"
        manifest = promoted_unit("prod", uri, self.bundle.sha256, name="strategy", version=version)
        name = f"model-manifest-{version}"
        data = {"model.yaml": yaml.safe_dump(manifest), "settings.yaml": yaml.safe_dump(SETTINGS)}
        self.store.apply(
            {"kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": data}
        )
        rollout = copy.deepcopy(self.rollout)
        spec = rollout["spec"]["template"]["spec"]
        spec["volumes"] = [{"name": "model", "configMap": {"name": name}}]
        spec["containers"][0]["env"] = [{"name": k, "value": v} for k, v in env.items()]
        self.store.apply(rollout)

    def status(self) -> dict[str, Any]:
        self.pods.probe()
        found = self.store.get("Rollout", NS, "strategy-service")
        return (found or {}).get("status") or {}

    def wait(self, what: str, condition: Any, timeout: float) -> None:
        procs.wait_until(
            what,
            lambda: bool(condition(self.status())),
            timeout=timeout,
            on_fail=lambda: str(self.status().get("message")),
        )

    def stop(self) -> None:
        for controller in reversed(self.started):
            controller.stop()
        self.pods.stop_all()
        if self.prom is not None:
            procs.stop(self.prom.pid, timeout=15)


@pytest.fixture
def twin(tmp_path: Path, bundles: dict[str, Bundle]) -> Iterator[Twin]:
    require_tool("prometheus", "PROMETHEUS")
    twin = Twin(tmp_path, bundles["good"])
    try:
        twin.start()
        twin.deploy("1")
        twin.wait("first deploy", lambda s: s.get("phase") == "Healthy", 60)
        stats = twin.feed.start_feed(NS, bars_per_second=1, lookback=70)
        assert stats["training_end"].startswith("2015-12-31")
        yield twin
    finally:
        twin.stop()


@pytest.mark.slow
def test_a_healthy_canary_walks_every_step(twin: Twin) -> None:
    stable = twin.status()["stableRS"]
    twin.deploy("2")
    twin.wait("canary at step 3", lambda s: s.get("currentStepIndex") == 3, 60)
    routes = [
        r.get("name")
        for r in twin.store.get("VirtualService", NS, "strategy-service")["spec"]["http"]
    ]
    assert routes == ["instruments-50", "mirror-all", "primary"]
    twin.wait("promoted", lambda s: s.get("phase") == "Healthy" and s.get("stableRS") != stable, 90)
    runs = twin.store.list("AnalysisRun", NS)
    assert [r["status"]["phase"] for r in runs] == ["Successful", "Successful"], [
        r["status"].get("message") for r in runs
    ]
    first = next(r for r in runs if r["metadata"]["labels"]["step-index"] == "3")
    kpi = next(m for m in first["status"]["metricResults"] if m["name"] == "pnl-drop")
    assert kpi["measurements"][0]["value"] not in ("[]", "")  # enough paired trades were measured
    stats = twin.feed.stop_feed(NS)
    assert stats is not None and set(stats["responses"]) == {"200"}, stats


@pytest.mark.slow
def test_a_canary_with_errors_is_aborted_back_to_stable(twin: Twin) -> None:
    stable = twin.status()["stableRS"]
    # every model answer fails: errors, then the circuit breaker opens (a trip) and answers flat
    twin.deploy("3", SERVING_INJECT_ERROR_RATE="1.0")
    twin.wait("aborted", lambda s: s.get("phase") == "Degraded", 60)
    message = twin.status()["message"]
    assert message.startswith("RolloutAborted: Rollout aborted update to revision 2: Step-based ")
    assert re.search(
        r'Metric "(error-rate|circuit-breaker-trips)" assessed Failed due to failed \(2\) > '
        r"failureLimit \(1\)",
        message,
    ), message
    # As in Argo, the reconcile that aborts writes the status after routing and services were
    # reconciled, so the routes and the canary Service go back to stable on the next one.
    procs.wait_until(
        "managed routes removed",
        lambda: (
            [
                r.get("name")
                for r in twin.store.get("VirtualService", NS, "strategy-service")["spec"]["http"]
            ]
            == ["primary"]
        ),
        timeout=30,
    )
    procs.wait_until(
        "canary Service back on stable",
        lambda: (
            twin.store.get("Service", NS, "strategy-service-canary")["spec"]["selector"][
                "rollouts-pod-template-hash"
            ]
            == stable
        ),
        timeout=30,
    )
    procs.wait_until(
        "canary pods gone",
        lambda: all(p.labels["rollouts-pod-template-hash"] == stable for p in twin.pods.list(NS)),
        timeout=30,
    )
