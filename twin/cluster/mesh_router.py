"""Routing of one namespace's requests by its Istio VirtualServices and DestinationRules.

The semantics are listed in :mod:`twin.cluster.mesh`: routes in order, header/uri/method matches
(``exact``, ``prefix``, ``regex`` as a full match), weighted destinations, ready endpoints only,
``consistentHash.httpHeaderName`` (rendezvous hashing) or round robin, and ``mirror`` with
``mirrorPercentage``: the copy carries Host ``<host>-shadow``, is sent after the primary answered,
in order per target pod of the mirror host, and its answer is discarded.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import random
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from twin.cluster.interfaces import Obj, ObjectStore, Pod, PodRunner
from twin.cluster.rollouts_replicasets import fnv32a, ready_endpoints

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
        # One lane per target pod: a backlog towards the pods the mirror Service selected
        # before an update never delays the copies meant for the new (preview) pods.
        key = f"{service}/{pod.name}"
        with self.lock:
            lane = self.mirrors.get(key)
            if lane is None:
                lane = self.mirrors[key] = queue.Queue(maxsize=10_000)
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
