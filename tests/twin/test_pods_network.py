"""The pod network: Service names, the twin's servers by cluster name, isolation of 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.twin.cluster_support import IMAGE, Cluster, wait_for
from twin import state
from twin.cluster import chaos
from twin.cluster.interfaces import Obj, Pod

pytestmark = pytest.mark.slow

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - the pod's "all interfaces", its pod IP
FETCH = (
    "import sys, urllib.request\n"
    "for url in sys.argv[1:]:\n"
    "    try:\n"
    "        print(url, urllib.request.urlopen(url, timeout=3).read().decode().strip())\n"
    "    except OSError as exc:\n"
    "        print(url, 'FAILED', type(exc).__name__)\n"
)


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"host server")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@pytest.fixture
def host_server(twin_home: Path) -> Iterator[int]:
    """A server on the host's 127.0.0.1, registered in state.json as the twin's Prometheus."""
    server = http.server.HTTPServer(("127.0.0.1", 0), Hello)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.register(twin_home, "prometheus", pid=0, url=f"http://127.0.0.1:{port}")
    yield int(port)
    state.unregister(twin_home, "prometheus")
    server.shutdown()


def run_to_end(
    cluster: Cluster, name: str, container: Obj, volumes: list[Obj] | None = None
) -> Pod:
    spec = {"containers": [container], "restartPolicy": "Never", "volumes": volumes or []}
    pod = cluster.pods.start("t", name, spec, {})
    wait_for(
        f"pod {name} done", lambda: pod.phase in ("Succeeded", "Failed"), detail=lambda: pod.message
    )
    return pod


def output(pod: Pod, container: str) -> dict[str, str]:
    assert pod.log_dir is not None
    lines = (pod.log_dir / f"{container}.out").read_text().splitlines()
    return dict(line.split(" ", 1) for line in lines)


def test_names_resolve_to_services_and_twin_servers_but_127_0_0_1_is_the_pod(
    cluster: Cluster, host_server: int
) -> None:
    cluster.namespace("t")
    server_spec = {
        "containers": [
            {
                "name": "app",
                "image": IMAGE,
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {
                    "httpGet": {"path": "/healthz", "port": "http"},
                    "periodSeconds": 1,
                },
            }
        ]
    }
    web = cluster.pods.start("t", "web", server_spec, {"app": "web"})
    cluster.store.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "t"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        }
    )
    wait_for(
        "web ready and in DNS", lambda: web.ready and cluster.pods.dns.resolve("web.t.svc", 80)
    )
    urls = [
        "http://web.t.svc:80/greeting",
        "http://web/greeting",
        "http://web.t.svc.cluster.local/greeting",
        "http://prometheus-operated.monitoring.svc:9090/",
        f"http://127.0.0.1:{host_server}/",
        "http://nothing.t.svc/",
    ]
    client = {"name": "client", "image": IMAGE, "command": ["python", "-c", FETCH, *urls]}
    pod = run_to_end(cluster, "client", client)
    got = output(pod, "client")
    assert got[urls[0]] == got[urls[1]] == got[urls[2]] == "hello from the image"
    assert got[urls[3]] == "host server"
    assert got[urls[4]] == "FAILED URLError"  # the host's 127.0.0.1 is not the pod's
    assert got[urls[5]] == "FAILED URLError"


def test_curl_image_reaches_cluster_names_through_its_curlrc(
    cluster: Cluster, host_server: int
) -> None:
    cluster.namespace("t")
    command = "curl --silent --fail http://prometheus-operated.monitoring.svc:9090/"
    pod = run_to_end(
        cluster,
        "curl",
        {"name": "curl", "image": "curlimages/curl:8.11.1", "command": ["sh", "-c", command]},
    )
    assert pod.phase == "Succeeded", pod.message
    assert pod.log_dir is not None and (pod.log_dir / "curl.out").read_text() == "host server"


def test_chaos_env_reaches_only_the_pods_serving_the_named_model(
    cluster: Cluster, twin_home: Path
) -> None:
    cluster.namespace("t")
    bad, good = "b" * 64, "a" * 64
    for name, sha in (("bad-manifest", bad), ("good-manifest", good)):
        cluster.store.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "t"},
                "data": {"model.yaml": f"model:\n  artifact:\n    sha256: {sha}\n"},
            }
        )
    chaos.inject_env(twin_home, "t", bad, {"STRATEGY_FAULT_RATE": "0.5"})
    try:
        pods = {}
        for name in ("bad", "good"):
            container = {
                "name": "app",
                "image": IMAGE,
                "command": ["sh", "-c", 'echo "FAULT ${STRATEGY_FAULT_RATE:-none}"'],
                "volumeMounts": [{"name": "model", "mountPath": "/etc/model"}],
            }
            volumes = [{"name": "model", "configMap": {"name": f"{name}-manifest"}}]
            pods[name] = run_to_end(cluster, name, container, volumes)
        assert output(pods["bad"], "app") == {"FAULT": "0.5"}
        assert output(pods["good"], "app") == {"FAULT": "none"}
    finally:
        chaos.clear(twin_home)
