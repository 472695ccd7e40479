"""Helpers shared by the cluster, pod and Argo tests: a twin home, the test image, a cluster.

The home lives in a world-searchable temp folder (pods run as uid 10001 and must reach the
runtime venv and the image); the test image (``cluster_image/``) is built and pushed to the
twin's registry once per session.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

from twin import registry
from twin.cluster.argo_executor import ArgoExecutor
from twin.cluster.interfaces import Obj
from twin.cluster.pods import LocalPodRunner
from twin.cluster.store import FileObjectStore

IMAGE_DIR = Path(__file__).parent / "cluster_image"
IMAGE = "ghcr.io/twin-tests/podapp:1"
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"


def wait_for(
    what: str, condition: Callable[[], Any], timeout: float = 20.0, detail: Any = None
) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` (and ``detail``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            shown = f": {detail() if callable(detail) else detail}" if detail is not None else ""
            pytest.fail(f"{what}: not after {timeout:.0f}s{shown}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def twin_home() -> Iterator[Path]:
    """A twin home that uid 10001 can reach, with the test image pushed as ``IMAGE``."""
    home = Path(tempfile.mkdtemp(prefix="twin-cluster-tests-"))
    home.chmod(0o755)
    digest = registry.build(IMAGE_DIR, IMAGE_DIR / "Dockerfile", None, home=home)
    registry.push(IMAGE, digest, home=home)
    yield home
    shutil.rmtree(home, ignore_errors=True)


class Cluster:
    """An in-process cluster: store, pod runner, Argo executor (no HTTP unless ``serve``)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.store = FileObjectStore(home)
        self.pods = LocalPodRunner(home, self.store, "http://127.0.0.1:9/kube")
        self.executor: ArgoExecutor | None = None
        self._servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def with_executor(self) -> Cluster:
        """Start the Argo executor."""
        self.executor = ArgoExecutor()
        self.executor.start(self.store, self.pods)
        return self

    def namespace(self, name: str) -> None:
        """Create a namespace object."""
        self.store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def serve(self, app: Starlette) -> str:
        """Serve ``app`` on a free 127.0.0.1 port in a thread; returns its base URL."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_for("test server", lambda: server.started, 10)
        self._servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    def workflow_done(self, namespace: str, name: str, timeout: float = 20.0) -> Obj:
        """Wait for a Workflow to end; returns it."""

        def done() -> Obj | None:
            found = self.store.get("Workflow", namespace, name)
            phase = ((found or {}).get("status") or {}).get("phase")
            return found if phase in ("Succeeded", "Failed", "Error") else None

        def detail() -> str:
            status = (self.store.get("Workflow", namespace, name) or {}).get("status") or {}
            nodes = {
                n["displayName"]: (n["phase"], n.get("message", ""))
                for n in (status.get("nodes") or {}).values()
            }
            return f"{status.get('phase')} {status.get('message')} {nodes}"

        result: Obj = wait_for(f"workflow {name} to finish", done, timeout, detail)
        return result

    def close(self) -> None:
        """Stop everything started (servers, executor, pods)."""
        for server, thread in self._servers:
            server.should_exit = True
            thread.join(timeout=10)
        if self.executor is not None:
            self.executor.stop()
        self.pods.delete_all(2.0)
        self.store.close()


@pytest.fixture
def cluster(twin_home: Path) -> Iterator[Cluster]:
    """A fresh in-process cluster over the session's twin home (objects start empty)."""
    (twin_home / "cluster" / "objects.json").unlink(missing_ok=True)
    made = Cluster(twin_home)
    made.namespace("argo")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def argo_cluster(cluster: Cluster) -> Cluster:
    """The in-process cluster with the Argo executor running."""
    return cluster.with_executor()


def nodes_by_display(workflow: Obj) -> dict[str, Obj]:
    """A workflow's nodes keyed by display name."""
    return {n["displayName"]: n for n in workflow["status"]["nodes"].values()}
