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
  in order per mirror host (a FIFO worker), so a shadow pod sees one instrument's bars in order.

Argo Rollouts edits the VirtualService in the store; the mesh reads it on every request.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import random
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from twin.cluster.interfaces import Controller, Obj, ObjectStore, Pod, PodRunner
from twin.cluster.rollouts_replicasets import fnv32a, ready_endpoints

log = logging.getLogger(__name__)
HOST_ALIAS = "127.254.0.1"  # the pod network's name for the host's 127.0.0.1 (twin.cluster.dns)
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class Request:
    """One HTTP request as the mesh routes it."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    host: str  # the Host header (the Service name the client used)


def _value_matches(rule: Mapping[str, Any], value: str | None) -> bool:
    if value is None:
        return False
    if "exact" in rule:
        return value == str(rule["exact"])
    if "prefix" in rule:
        return value.startswith(str(rule["prefix"]))
    if "regex" in rule:
        return re.fullmatch(str(rule["regex"]), value) is not None
    return True


def matches(route: Obj, request: Request) -> bool:
    """Whether an Istio HTTP route applies to a request."""
    conditions = route.get("match") or []
    if not conditions:
        return True
    for cond in conditions:
        headers = cond.get("headers") or {}
        ok = all(
            _value_matches(rule or {}, request.headers.get(name.lower()))
            for name, rule in headers.items()
        )
        if "uri" in cond:
            ok = ok and _value_matches(cond["uri"], request.path.split("?", 1)[0])
        if "method" in cond:
            ok = ok and _value_matches(cond["method"], request.method)
        if ok:
            return True
    return False


def short_host(host: str) -> str:
    """``strategy-service`` of ``strategy-service.trading-prod.svc.cluster.local:8080``."""
    return host.split(":", 1)[0].split(".", 1)[0]


def shadow_host(host: str) -> str:
    """Istio's Host of a mirrored request: ``-shadow`` appended to the host part."""
    name, sep, port = host.partition(":")
    return f"{name}-shadow{sep}{port}"


class Router:
    """Routes requests of one namespace by its VirtualServices (see module doc)."""

    def __init__(self, store: ObjectStore, pods: PodRunner, namespace: str, seed: int = 0) -> None:
        self.store = store
        self.pods = pods
        self.namespace = namespace
        self.rng = random.Random(seed)  # noqa: S311 - traffic splitting, not security
        self.counter = itertools.count()
        self.client = httpx.Client(timeout=10.0)
        self.mirrors: dict[str, queue.Queue[tuple[Pod, Request] | None]] = {}
        self.lock = threading.Lock()

    def virtual_service(self, host: str) -> Obj | None:
        """The VirtualService serving ``host`` in this namespace."""
        for vs in self.store.list("VirtualService", self.namespace):
            if short_host(host) in [
                short_host(h) for h in (vs.get("spec") or {}).get("hosts") or []
            ]:
                return vs
        return None

    def endpoint(self, service: str, request: Request) -> Pod | None:
        """One ready pod of a Service, by the host's DestinationRule."""
        ready = ready_endpoints(self.store, self.pods, self.namespace, service)
        if not ready:
            return None
        header = None
        for rule in self.store.list("DestinationRule", self.namespace):
            if short_host(str((rule.get("spec") or {}).get("host", ""))) == service:
                policy = (rule["spec"].get("trafficPolicy") or {}).get("loadBalancer") or {}
                header = (policy.get("consistentHash") or {}).get("httpHeaderName")
        if header:
            key = request.headers.get(str(header).lower(), "")
            return max(ready, key=lambda p: fnv32a(f"{key}|{p.name}".encode()))
        return ready[next(self.counter) % len(ready)]

    def route(self, request: Request) -> tuple[str, Obj | None]:
        """The destination Service of a request and the route that chose it."""
        vs = self.virtual_service(request.host)
        if vs is None:
            return short_host(request.host), None
        for route in (vs.get("spec") or {}).get("http") or []:
            if not matches(route, request):
                continue
            destinations = [d for d in route.get("route") or [] if int(d.get("weight", 100)) > 0]
            if not destinations:
                return "", route
            weights = [int(d.get("weight", 100)) for d in destinations]
            chosen = (
                self.rng.choices(destinations, weights=weights)[0]
                if len(destinations) > 1
                else destinations[0]
            )
            return short_host(str(chosen["destination"]["host"])), route
        return "", None

    def forward(self, pod: Pod, service: str, request: Request, host: str) -> httpx.Response:
        """Send a request to a pod at the Service's target port."""
        port = self._target_port(pod, service)
        headers = {k: v for k, v in request.headers.items() if k not in HOP_HEADERS}
        headers["host"] = host
        return self.client.request(
            request.method,
            f"http://{pod.ip}:{port}{request.path}",
            headers=headers,
            content=request.body,
        )

    def _target_port(self, pod: Pod, service: str) -> int:
        svc = self.store.get("Service", self.namespace, service) or {}
        port_spec = ((svc.get("spec") or {}).get("ports") or [{}])[0]
        target = port_spec.get("targetPort", port_spec.get("port", 8080))
        if isinstance(target, int) or str(target).isdigit():
            return int(target)
        for container in pod.spec.get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name") == target:
                    return int(port["containerPort"])
        return int(port_spec.get("port", 8080))

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """Route one request; mirror it when the route says so; return the primary answer."""
        service, route = self.route(request)
        if not service:
            return 404, {"content-type": "text/plain"}, b"route not found"
        pod = self.endpoint(service, request)
        if pod is None:
            return 503, {"content-type": "text/plain"}, b"no healthy upstream"
        try:
            reply = self.forward(pod, service, request, request.host)
        except httpx.HTTPError as exc:
            return 503, {"content-type": "text/plain"}, f"upstream connect error: {exc}".encode()
        mirror = (route or {}).get("mirror")
        if mirror:
            percent = float(((route or {}).get("mirrorPercentage") or {}).get("value", 100))
            if percent >= 100 or self.rng.random() * 100 < percent:
                self._mirror(short_host(str(mirror.get("host", ""))), request)
        headers = {k: v for k, v in reply.headers.items() if k.lower() not in HOP_HEADERS}
        return reply.status_code, headers, reply.content

    def _mirror(self, service: str, request: Request) -> None:
        pod = self.endpoint(service, request)
        if pod is None:
            return
        with self.lock:
            lane = self.mirrors.get(service)
            if lane is None:
                lane = self.mirrors[service] = queue.Queue(maxsize=10_000)
                threading.Thread(target=self._drain, args=(service, lane), daemon=True).start()
        with contextlib.suppress(queue.Full):
            lane.put_nowait((pod, request))

    def _drain(self, service: str, lane: queue.Queue[tuple[Pod, Request] | None]) -> None:
        while True:
            item = lane.get()
            if item is None:
                return
            pod, request = item
            with contextlib.suppress(httpx.HTTPError):
                self.forward(pod, service, request, shadow_host(request.host))

    def close(self) -> None:
        """Stop the mirror workers and close connections."""
        with self.lock:
            for lane in self.mirrors.values():
                lane.put(None)
        self.client.close()


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
