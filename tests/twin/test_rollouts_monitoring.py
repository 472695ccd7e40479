"""ServiceMonitor -> Prometheus file_sd: the rendered monitor, its Service and the pods."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.delivery.lint.runner import render
from tests.conftest import REPO_ROOT, require_tool
from tests.twin.rollouts_support import FakePods, MemoryStore
from twin.cluster.interfaces import Pod
from twin.cluster.monitoring import ServiceMonitorTargets, label_name

NS = "trading-prod"


@pytest.fixture(scope="module")
def prod() -> list[dict[str, Any]]:
    require_tool("kubectl")
    return render(REPO_ROOT / "environments" / "prod")


def add_pod(pods: FakePods, name: str, pod_hash: str, phase: str = "Running") -> None:
    ports = [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9102}]
    spec = {"containers": [{"name": "strategy", "ports": ports}]}
    labels = {"app.kubernetes.io/name": "strategy-service", "rollouts-pod-template-hash": pod_hash}
    ip = f"127.0.0.{len(pods.pods) + 2}"
    pods.pods[(NS, name)] = Pod(NS, name, ip, labels, spec, phase, phase == "Running")


def test_file_sd_targets_follow_the_pods(tmp_path: Path, prod: list[dict[str, Any]]) -> None:
    store, pods = MemoryStore(), FakePods()
    for doc in prod:
        if doc["kind"] in ("Service", "ServiceMonitor"):
            store.apply(doc)
    add_pod(pods, "strategy-service-aaa-1", "aaa")
    add_pod(pods, "strategy-service-bbb-1", "bbb")
    add_pod(pods, "strategy-service-bbb-2", "bbb", phase="Pending")
    writer = ServiceMonitorTargets(tmp_path, poll_seconds=60)
    writer.store, writer.pods = store, pods
    (path,) = writer.write()
    assert path == tmp_path / "prometheus" / "file_sd" / f"{NS}.json"
    groups = json.loads(path.read_text())
    # the monitor's endpoint is the pods' metrics port (the API port is never scraped)
    assert [g["targets"] for g in groups] == [["127.0.0.2:9102"], ["127.0.0.3:9102"]]
    assert groups[0]["labels"] == {
        "namespace": NS,
        "service": "strategy-service-metrics",  # the one Service the monitor selects
        "pod": "strategy-service-aaa-1",
        "container": "strategy",
        "endpoint": "metrics",
        "job": "strategy-service-metrics",
        "rollouts_pod_template_hash": "aaa",
        "__metrics_path__": "/metrics",
    }
    assert writer.write() == []  # unchanged: not rewritten
    del pods.pods[(NS, "strategy-service-aaa-1")]
    assert writer.write() == [path]
    assert [g["labels"]["pod"] for g in json.loads(path.read_text())] == ["strategy-service-bbb-1"]
    store.delete("ServiceMonitor", NS, "strategy-service")
    writer.write()
    assert json.loads(path.read_text()) == []


def test_label_names() -> None:
    assert label_name("rollouts-pod-template-hash") == "rollouts_pod_template_hash"
    assert label_name("app.kubernetes.io/name") == "app_kubernetes_io_name"
