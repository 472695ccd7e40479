"""The cluster process: start, bootstrap from the checkout, serve kubectl and Argo, stop by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.twin.cluster_support import REPO_ROOT, wait_for
from twin import procs, state
from twin.cluster import bootstrap, server

pytestmark = pytest.mark.slow

MARKER = "4242.125"


def running_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_cluster_process_bootstraps_serves_and_stops_its_pods(twin_home: Path) -> None:
    home = twin_home / "process"
    home.mkdir(exist_ok=True)
    record = server.launch(home)
    try:
        assert state.service(home, "cluster")["pid"] == record["pid"]
        assert state.load(home)["env"]["TWIN_KUBE_URL"] == record["kube_url"]
        assert httpx.get(f"{record['url']}/healthz", timeout=5).json()["ok"] is True
        bootstrap.bootstrap(home, REPO_ROOT)
        env = {
            **os.environ,
            "TWIN_KUBE_URL": record["kube_url"],
            "PATH": f"{REPO_ROOT / 'twin' / 'cluster' / 'shims'}:{os.environ['PATH']}",
        }
        # The deploy template's own `dependencies` step, as the template writes it.
        deploy = yaml.safe_load((REPO_ROOT / "deploy" / "argo" / "deploy.yaml").read_text())
        step = next(t for t in deploy["spec"]["templates"] if t["name"] == "dependencies")
        checks = step["container"]["args"][0].replace("{{workflow.parameters.environment}}", "dev")
        done = subprocess.run(
            ["sh", "-c", checks], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        templates = subprocess.run(
            ["kubectl", "get", "workflowtemplates", "-n", "argo", "-o", "name"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "workflowtemplate.argoproj.io/deploy" in templates.stdout.split()
        headers = {"Authorization": f"Bearer {record['argo_token']}"}
        workflow = {
            "metadata": {"generateName": "sleepy-"},
            "spec": {
                "entrypoint": "main",
                "templates": [
                    {
                        "name": "main",
                        "container": {"image": "alpine/git:2.47.2", "command": ["sleep", MARKER]},
                    }
                ],
            },
        }
        created = httpx.post(
            f"{record['url']}/api/v1/workflows/argo",
            json={"workflow": workflow},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 200, created.text
        wait_for("the step's process", lambda: running_with(MARKER), timeout=20)
    finally:
        started = time.monotonic()
        server.shutdown(home)
    assert time.monotonic() - started < 20
    assert running_with(MARKER) == []
    assert "cluster" not in state.load(home)["services"]


def test_pods_of_a_killed_cluster_are_reaped(twin_home: Path) -> None:
    home = twin_home / "killed"
    home.mkdir(exist_ok=True)
    marker = "4343.375"
    record = server.launch(home)
    try:
        workflow = {
            "metadata": {"name": "orphan"},
            "spec": {
                "entrypoint": "main",
                "templates": [
                    {
                        "name": "main",
                        "container": {"image": "alpine/git:2.47.2", "command": ["sleep", marker]},
                    }
                ],
            },
        }
        headers = {"Authorization": f"Bearer {record['argo_token']}"}
        answer = httpx.post(
            f"{record['url']}/api/v1/workflows/argo",
            json={"workflow": workflow},
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        wait_for("the step's process", lambda: running_with(marker), timeout=20)
        os.kill(int(record["pid"]), signal.SIGKILL)
        wait_for("the cluster gone", lambda: not procs.alive(int(record["pid"])), timeout=10)
        assert running_with(marker)  # orphaned: nobody deleted the pod
    finally:
        server.shutdown(home)
    assert running_with(marker) == []
