"""The twin's Istio mesh: VirtualService routing over the ready endpoints of Services.

``Mesh`` (an ``interfaces.Controller``) opens one HTTP listener per host of every
``VirtualService`` (``<host>.<namespace>.svc:<service port>``) and, when the pod runner has a
cluster DNS (``pods.dns.override``), points that name at the listener, so pods, the market feed
and the deploy workflow reach the Service through the mesh. Per request, as Envoy applies an
Istio route table:

- ``http`` routes are tried in order; a route matches when every header condition
  (``exact``, ``regex`` (full match, RE2-like), ``prefix``), ``uri`` and ``method`` condition of
  one of its ``match`` entries holds, or when it has no ``match``; the first match wins;
- a destination is drawn by ``weight`` (a weight-0 destination never receives traffic);
- its host is a Service of the namespace; the request goes to one of the Service's ready pods
  (no ready pod: 503 ``no healthy upstream``), chosen by the host's ``DestinationRule``
  ``consistentHash.httpHeaderName`` (rendezvous hashing: one instrument, one pod) or round robin;
- ``mirror`` + ``mirrorPercentage`` (default 100): a copy goes to the mirror host with Host
  ``<host>-shadow`` and its answer is discarded. The copy is sent after the primary answered,
  in order per target pod (a FIFO worker each), so a shadow pod sees one instrument's bars in
  order and a backlog towards old pods never delays the copies for new ones.

Argo Rollouts edits the VirtualService in the store; the mesh reads it on every request.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from twin.cluster.interfaces import Controller, ObjectStore, PodRunner
from twin.cluster.mesh_router import Request, Router, matches, shadow_host, short_host

log = logging.getLogger(__name__)
HOST_ALIAS = "127.254.0.1"  # the pod network's name for the host's 127.0.0.1 (twin.cluster.dns)


class _Handler(BaseHTTPRequestHandler):
    router: Router
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, self.path, headers, body, headers.get("host", ""))
        status, out_headers, data = self.router.handle(request)
        self.send_response(status)
        for name, value in out_headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's names


__all__ = ["Mesh", "Request", "Router", "controllers", "matches", "shadow_host"]


@dataclass
class Listener:
    """One mesh listener: ``<host>.<namespace>.svc:<port>`` served at ``address``."""

    namespace: str
    host: str
    port: int
    address: tuple[str, int]
    server: ThreadingHTTPServer
    router: Router


class Mesh:
    """The mesh controller (see module doc)."""

    def __init__(self, poll_seconds: float = 1.0, bind: str | None = None) -> None:
        self.poll_seconds = poll_seconds
        self.bind = bind
        self.listeners: dict[tuple[str, str, int], Listener] = {}
        self._pool: Any = None
        self.store: ObjectStore | None = None
        self.pods: PodRunner | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, store: ObjectStore, pods: PodRunner) -> None:
        """Open listeners for the VirtualServices in the store, and follow changes."""
        self.store, self.pods = store, pods
        store.watch(
            lambda event, obj: (
                self._wake.set() if obj.get("kind") in ("VirtualService", "Service") else None
            )
        )
        self.sync()
        self._thread = threading.Thread(target=self._loop, name="mesh", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                self.sync()
            except Exception:
                log.exception("mesh: sync failed")

    def sync(self) -> None:
        """One listener per VirtualService host and Service port."""
        assert self.store is not None and self.pods is not None  # noqa: S101 - started
        for vs in self.store.list("VirtualService"):
            namespace = vs["metadata"].get("namespace", "")
            for host in (vs.get("spec") or {}).get("hosts") or []:
                service = self.store.get("Service", namespace, short_host(str(host)))
                for port_spec in ((service or {}).get("spec") or {}).get("ports") or []:
                    key = (namespace, short_host(str(host)), int(port_spec["port"]))
                    if key not in self.listeners:
                        self.listeners[key] = self._open(*key)

    def _open(self, namespace: str, host: str, port: int) -> Listener:
        assert self.store is not None and self.pods is not None  # noqa: S101 - started
        router = Router(self.store, self.pods, namespace)
        handler = type("MeshHandler", (_Handler,), {"router": router})
        server = ThreadingHTTPServer((self.bind or self._bind_address(), 0), handler)
        server.daemon_threads = True
        address = (str(server.server_address[0]), int(server.server_address[1]))
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        ).start()
        dns = getattr(self.pods, "dns", None)
        if dns is not None:
            target = (HOST_ALIAS if address[0] == "127.0.0.1" else address[0], address[1])
            dns.override(f"{host}.{namespace}.svc", port, target)
        log.info("mesh: %s.%s.svc:%s at %s:%s", host, namespace, port, *address)
        return Listener(namespace, host, port, address, server, router)

    def _bind_address(self) -> str:
        """A Service IP of the cluster's pool when it has one, else the host's loopback."""
        try:
            from twin.cluster import ipam  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            return "127.0.0.1"
        try:
            if self._pool is None:
                self._pool = ipam.service_pool()
            return str(self._pool.acquire())
        except Exception:  # noqa: BLE001 - any pool problem: the host's loopback still works
            return "127.0.0.1"

    def address(self, namespace: str, host: str, port: int = 8080) -> tuple[str, int] | None:
        """Where the mesh serves ``<host>.<namespace>.svc:<port>`` (None: no VirtualService)."""
        found = self.listeners.get((namespace, short_host(host), port))
        return found.address if found else None

    def stop(self) -> None:
        """Close every listener (and undo the DNS overrides)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        dns = getattr(self.pods, "dns", None)
        for (namespace, host, port), listener in list(self.listeners.items()):
            listener.server.shutdown()
            listener.server.server_close()
            listener.router.close()
            if dns is not None:
                dns.override(f"{host}.{namespace}.svc", port, None)
            if self._pool is not None and listener.address[0] != "127.0.0.1":
                self._pool.release(listener.address[0])
        self.listeners.clear()


def controllers(home: Path) -> list[Controller]:
    """What the cluster process starts from this module (``twin.cluster.controllers``)."""
    return [Mesh()]
