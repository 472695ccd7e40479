"""The cluster process: ``python -m twin cluster-serve --home H --port P``.

One Starlette app on 127.0.0.1: ``GET /healthz``, the shims' API under ``/kube``
(``api_kube``), the Argo Server API under ``/api/v1`` (``api_argo``). It starts the
controllers (``controllers.build``), registers itself in ``state.json`` as ``cluster``
(``pid``, ``url``, ``kube_url``, ``argo_url``, ``argo_token``) and records the client env
(``TWIN_KUBE_URL``, ``ARGO_SERVER``, ``ARGO_TOKEN``, ``ARGO_NAMESPACE``, ``ARGO_HTTP1``,
``ARGO_SECURE``). On SIGTERM it stops the controllers, deletes every pod (by PID) and exits.

Also: ``cluster-bootstrap`` (``bootstrap.py``) and ``cluster-chaos`` (``chaos.py``, TEST-ONLY);
``launch``/``shutdown`` start and stop the process for ``twin up`` and the tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.io import atomic
from twin import procs, state
from twin.cluster import bootstrap, chaos, controllers, reaper
from twin.cluster.api_argo import ArgoServerApi
from twin.cluster.api_kube import KubeApi
from twin.cluster.dns import pod_egress_env
from twin.cluster.pods import LocalPodRunner
from twin.cluster.store import FileObjectStore
from twin.errors import TwinError

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]


def argo_token(home: Path) -> str:
    """The cluster's Argo Server bearer token (minted once per twin home)."""
    path = home / "cluster" / "argo-token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, f"twin-argo-{secrets.token_hex(16)}\n")
    return path.read_text(encoding="utf-8").strip()


def serve(home: Path, port: int, shared: Path | None) -> None:
    """Run the cluster until SIGTERM/SIGINT."""
    url = f"http://127.0.0.1:{port}"
    reaper.reap(home)  # pods of a cluster process that was killed instead of stopped
    store = FileObjectStore(home)
    for pod in store.list("Pod"):  # pods died with the previous cluster process
        store.delete("Pod", pod["metadata"].get("namespace", ""), pod["metadata"]["name"])
    pods = LocalPodRunner(home, store, f"{url}/kube", egress=lambda: pod_egress_env(home))
    store.watch(lambda event, obj: pods.dns.refresh() if obj.get("kind") == "Service" else None)
    token = argo_token(home)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "pods": len(pods.list())})

    routes = [
        Route("/healthz", healthz),
        *KubeApi(store, shared).routes(),
        *ArgoServerApi(store, token, shared).routes(),
    ]
    running = controllers.build(home)
    # Controllers that serve routes of their own (the market feed's start/stop).
    routes += [r for c in running if hasattr(c, "routes") for r in c.routes()]
    pods.dns.refresh()
    for controller in running:
        controller.start(store, pods)
    state.register(
        home,
        "cluster",
        pid=os.getpid(),
        url=url,
        kube_url=f"{url}/kube",
        argo_url=url,
        argo_token=token,
    )
    state.set_env(
        home,
        TWIN_KUBE_URL=f"{url}/kube",
        ARGO_SERVER=f"127.0.0.1:{port}",
        ARGO_TOKEN=f"Bearer {token}",
        ARGO_NAMESPACE="argo",
        ARGO_HTTP1="true",
        ARGO_SECURE="false",
    )
    config = uvicorn.Config(
        Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    # uvicorn re-raises the signal that stopped it once it is done serving: with this handler in
    # place that is a no-op, so the pods are deleted below instead of the process dying at once.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        uvicorn.Server(config).run()
    finally:
        for controller in reversed(running):
            try:
                controller.stop()
            except Exception:
                log.exception("stopping a controller failed")
        pods.delete_all()
        store.close()
        state.unregister(home, "cluster")


def launch(home: Path, *, timeout: float = 60.0, shared: Path | None = None) -> dict[str, Any]:
    """Start ``cluster-serve`` in its own session and wait for ``/healthz``; returns its record."""
    port = procs.free_port()
    argv = [sys.executable, "-m", "twin", "cluster-serve", "--home", str(home), "--port", str(port)]
    if shared is not None:
        argv += ["--shared", str(shared)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    log_dir = home / "logs"
    proc = procs.spawn("cluster", argv, log_dir=log_dir, env=env, cwd=REPO_ROOT)
    procs.wait_until(
        "cluster /healthz",
        procs.http_ok(f"http://127.0.0.1:{port}/healthz"),
        timeout=timeout,
        proc=proc,
        on_fail=lambda: procs.log_tail(log_dir, "cluster"),
    )
    procs.wait_until(
        "cluster registered",
        lambda: "cluster" in state.load(home)["services"],
        timeout=10,
        proc=proc,
    )
    return state.service(home, "cluster")


def shutdown(home: Path, timeout: float = 60.0) -> None:
    """Stop the registered cluster process (SIGTERM: it deletes its pods first).

    After ``timeout`` seconds it is killed, and any pod process still running is killed too.
    """
    try:
        record = state.service(home, "cluster")
    except KeyError:
        return
    procs.stop(int(record["pid"]), timeout=timeout)
    reaper.reap(home)  # anything left if the process had to be killed
    state.unregister(home, "cluster")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``cluster-serve``, ``cluster-bootstrap`` and ``cluster-chaos``."""
    parser = commands.add_parser(
        "cluster-serve", help="run the fake cluster (Argo, Rollouts, pods)"
    )
    parser.add_argument("--home", type=Path, required=True, help="the twin's state folder")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--shared", type=Path, help="folder holding schemas/ (default: ../shared)")
    parser.set_defaults(handler=_serve)
    boot = commands.add_parser(
        "cluster-bootstrap", help="install what Terraform and its add-ons would"
    )
    boot.add_argument("--home", type=Path, required=True)
    boot.add_argument(
        "--checkout", type=Path, required=True, help="the repository (deploy/argo, environments)"
    )
    boot.set_defaults(handler=_bootstrap)
    chaos.register(commands)


def _bootstrap(args: argparse.Namespace) -> int:
    bootstrap.bootstrap(args.home.resolve(), args.checkout.resolve())
    return 0


def _serve(args: argparse.Namespace) -> int:
    shared = args.shared or bootstrap.default_shared(REPO_ROOT)
    if shared is None:
        raise TwinError("cluster-serve: ../shared/schemas not found (pass --shared)")
    serve(args.home.resolve(), args.port, shared.resolve())
    return 0
