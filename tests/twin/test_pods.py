"""The pod runner: pods as processes on their own loopback IPs, probed as kubelet probes them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.twin.cluster_support import IMAGE, Cluster, wait_for
from twin.cluster.interfaces import Obj
from twin.cluster.rollouts_replicasets import ready_endpoints

pytestmark = pytest.mark.slow

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - the pod's "all interfaces", its pod IP


def logs(pod: Any) -> str:
    folder = pod.log_dir
    return (
        " | ".join(p.read_text()[-300:] for p in sorted(folder.glob("*")) if p.is_file())
        if folder
        else ""
    )


def serve_spec(host: str | None, **container: Any) -> Obj:
    args = ["serve", "--port", "8080"] + (["--host", host] if host else [])
    main = {
        "name": "app",
        "image": IMAGE,
        "args": args,
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
        **container,
    }
    return {"containers": [main], "securityContext": {"runAsUser": 10001, "fsGroup": 10001}}


def test_server_on_all_interfaces_is_reachable_on_its_pod_ip(cluster: Cluster) -> None:
    cluster.namespace("t")
    pod = cluster.pods.start("t", "web", serve_spec(ALL_INTERFACES), {"app": "web"})
    wait_for("pod ready", lambda: pod.ready, detail=lambda: (pod.phase, pod.message, logs(pod)))
    assert pod.ip.startswith("127.0.") and pod.ip != "127.0.0.1"
    answer = httpx.get(f"http://{pod.ip}:8080/whoami", timeout=5).json()
    assert answer["uid"] == 10001
    assert 10001 in answer["groups"]
    # The image's WORKDIR is the container's cwd and holds what the Dockerfile copied there.
    assert (
        httpx.get(f"http://{pod.ip}:8080/greeting", timeout=5).text.strip()
        == "hello from the image"
    )
    mirrored = cluster.store.get("Pod", "t", "web")
    assert mirrored is not None and mirrored["status"]["podIP"] == pod.ip


def test_server_without_host_fails_its_probe_naming_the_url_on_the_pod_ip(cluster: Cluster) -> None:
    cluster.namespace("t")
    pod = cluster.pods.start("t", "nohost", serve_spec(None), {})
    wait_for("probe failure", lambda: "Readiness probe failed" in pod.message)
    assert pod.phase == "Running" and not pod.ready
    assert f'Get "http://{pod.ip}:8080/healthz"' in pod.message
    assert "connection refused" in pod.message
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{pod.ip}:8080/healthz", timeout=2)


def test_two_pods_listen_on_the_same_port(cluster: Cluster) -> None:
    cluster.namespace("t")
    first = cluster.pods.start("t", "one", serve_spec(ALL_INTERFACES), {})
    second = cluster.pods.start("t", "two", serve_spec(ALL_INTERFACES), {})
    wait_for("both ready", lambda: first.ready and second.ready)
    assert first.ip != second.ip
    for pod in (first, second):
        assert httpx.get(f"http://{pod.ip}:8080/env/HOSTNAME", timeout=5).text == pod.name


def test_unsupported_volume_fails_the_mount(cluster: Cluster, twin_home: Path) -> None:
    cluster.namespace("t")
    spec = serve_spec(ALL_INTERFACES, volumeMounts=[{"name": "host", "mountPath": "/host"}])
    spec["volumes"] = [{"name": "host", "hostPath": {"path": str(twin_home)}}]
    pod = cluster.pods.start("t", "hostpath", spec, {})
    wait_for("mount failure", lambda: pod.extra.get("reason") == "FailedMount")
    assert "volume host: hostPath volumes are not supported" in pod.message


def test_delete_runs_prestop_then_sigterm(cluster: Cluster, twin_home: Path) -> None:
    cluster.namespace("t")
    spec = serve_spec(
        ALL_INTERFACES,
        env=[{"name": "TERM_MARKER", "value": "/data/term"}],
        volumeMounts=[{"name": "data", "mountPath": "/data"}],
        lifecycle={"preStop": {"exec": {"command": ["sh", "-c", "echo prestop > /data/term"]}}},
    )
    spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "marks"}}]
    pod = cluster.pods.start("t", "ordered", spec, {})
    wait_for("pod ready", lambda: pod.ready, detail=lambda: (pod.phase, pod.message, logs(pod)))
    cluster.pods.delete(pod, grace_seconds=10)
    assert pod.extra["deleted"] and cluster.pods.get("t", "ordered") is None
    assert cluster.store.get("Pod", "t", "ordered") is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{pod.ip}:8080/healthz", timeout=2)
    claim = twin_home / "cluster" / "pvcs" / "t" / "marks"
    assert (claim / "term").read_text().split() == ["prestop", "term"]
    # fsGroup: kubelet made the claim group-owned by 10001 and group-writable.
    assert claim.stat().st_gid == 10001 and claim.stat().st_mode & 0o070 == 0o070


def test_a_pod_being_deleted_leaves_the_endpoints_before_its_prestop_hook(
    cluster: Cluster,
) -> None:
    cluster.namespace("t")
    cluster.store.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc", "namespace": "t"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": "http"}]},
        }
    )
    spec = serve_spec(ALL_INTERFACES, lifecycle={"preStop": {"sleep": {"seconds": 30}}})
    pod = cluster.pods.start("t", "draining", spec, {"app": "x"})
    wait_for("pod ready", lambda: pod.ready, detail=lambda: (pod.phase, pod.message, logs(pod)))
    assert [p.name for p in ready_endpoints(cluster.store, cluster.pods, "t", "svc")] == [
        "draining"
    ]
    deleting = threading.Thread(target=cluster.pods.delete, args=(pod, 3.0), daemon=True)
    deleting.start()
    stored = lambda: cluster.store.get("Pod", "t", "draining") or {}  # noqa: E731
    wait_for("deletionTimestamp", lambda: stored().get("metadata", {}).get("deletionTimestamp"))
    # The preStop sleep is running: the process still answers and is still ready, but no
    # Service routes to it any more (kube-proxy and the mesh read the same endpoints).
    assert deleting.is_alive() and pod.ready and not pod.extra.get("deleted")
    assert httpx.get(f"http://{pod.ip}:8080/healthz", timeout=5).status_code == 200
    assert pod.terminating
    assert ready_endpoints(cluster.store, cluster.pods, "t", "svc") == []
    deleting.join(timeout=30)
    assert pod.extra["deleted"] and cluster.store.get("Pod", "t", "draining") is None


def test_config_map_mount_env_refs_and_run_as_user(cluster: Cluster) -> None:
    cluster.namespace("t")
    cluster.store.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "conf", "namespace": "t"},
            "data": {"settings.yaml": "environment: t\n", "level": "debug"},
        }
    )
    spec = serve_spec(
        ALL_INTERFACES,
        env=[
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "level"}}},
            {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "SETTINGS", "value": "/etc/conf/settings.yaml"},
        ],
        volumeMounts=[{"name": "conf", "mountPath": "/etc/conf", "readOnly": True}],
    )
    spec["volumes"] = [{"name": "conf", "configMap": {"name": "conf"}}]
    pod = cluster.pods.start("t", "configured", spec, {})
    wait_for("pod ready", lambda: pod.ready, detail=lambda: (pod.phase, pod.message, logs(pod)))
    env = {
        n: httpx.get(f"http://{pod.ip}:8080/env/{n}", timeout=5).text
        for n in ("LEVEL", "MY_IP", "SETTINGS")
    }
    assert env["LEVEL"] == "debug" and env["MY_IP"] == pod.ip
    assert Path(env["SETTINGS"]).read_text() == "environment: t\n"
    # The image's files are not writable by the pod's user (read-only root filesystem).
    assert httpx.get(f"http://{pod.ip}:8080/write-cwd", timeout=5).text == "denied"
    missing = dict(
        spec,
        containers=[
            dict(
                spec["containers"][0],
                env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}],
            )
        ],
    )
    broken = cluster.pods.start("t", "broken", missing, {})
    wait_for("config error", lambda: broken.extra.get("reason") == "CreateContainerConfigError")
    assert 'secret "nope" not found' in broken.message


def test_unknown_image_fails_naming_it(cluster: Cluster) -> None:
    cluster.namespace("t")
    spec = {"containers": [{"name": "x", "image": "docker.io/library/nginx:1.27"}]}
    pod = cluster.pods.start("t", "nginx", spec, {})
    wait_for("pull error", lambda: pod.extra.get("reason") == "ErrImagePull")
    assert "'docker.io/library/nginx:1.27'" in pod.message and pod.phase == "Pending"


def test_liveness_failure_restarts_the_container(cluster: Cluster) -> None:
    cluster.namespace("t")
    spec = serve_spec(
        ALL_INTERFACES,
        livenessProbe={"tcpSocket": {"port": 9999}, "periodSeconds": 1, "failureThreshold": 2},
    )
    spec["terminationGracePeriodSeconds"] = 2
    seen: list[str] = []
    cluster.pods.subscribe(lambda p: seen.append(p.message) if p.name == "unlive" else None)
    pod = cluster.pods.start("t", "unlive", spec, {})
    wait_for("a restart", lambda: pod.restarts >= 1, timeout=15)
    assert any(f"Liveness probe failed: dial tcp {pod.ip}:9999" in m for m in seen)
    assert any(m.startswith("back-off 10s restarting container app") for m in seen)


def _run_to_end(cluster: Cluster, name: str, command: list[str], **pod: Any) -> str:
    """Run ``command`` in a one-shot pod of the project image; its stdout once it succeeded."""
    cluster.namespace("t")
    spec = {
        **pod,
        "containers": [{"name": name, "image": IMAGE, "command": command}],
        "restartPolicy": "Never",
    }
    started = cluster.pods.start("t", name, spec, {})
    wait_for(
        "pod done",
        lambda: started.phase in ("Succeeded", "Failed"),
        detail=lambda: logs(started),
    )
    assert started.phase == "Succeeded", logs(started)
    return (started.log_dir / f"{name}.out").read_text()  # type: ignore[operator]


def test_project_images_have_the_runtime_console_scripts(cluster: Cluster) -> None:
    script = "command -v pipelines && command -v dvc && command -v python && command -v kubectl"
    found = _run_to_end(cluster, "which", ["sh", "-c", script]).split()
    runtime = cluster.home / "cluster" / "runtime"
    assert found == [str(runtime / "bin" / n) for n in ("pipelines", "dvc", "python")] + [
        str(runtime / "shims" / "kubectl")
    ]


def test_the_pods_user_has_a_passwd_entry_as_in_its_image(cluster: Cluster) -> None:
    """Without it DVC fails: getpwuid(): uid not found: 10001."""
    script = "import getpass, os, pwd; print(getpass.getuser(), pwd.getpwuid(os.getuid()).pw_uid)"
    user = {"runAsUser": 10001, "runAsGroup": 10001}
    out = _run_to_end(cluster, "who", ["python", "-c", script], securityContext=user)
    assert out.split() == ["uid10001", "10001"]


def test_aiohttp_in_a_pod_resolves_through_the_pod_network(cluster: Cluster) -> None:
    """c-ares would ask the host's DNS for cluster names (DVC's S3 client hung on it)."""
    script = "import aiohttp.resolver as r; print(r.DefaultResolver.__name__)"
    assert _run_to_end(cluster, "dns", ["python", "-c", script]).split() == ["ThreadedResolver"]
