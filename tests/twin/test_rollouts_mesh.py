"""The twin's Istio mesh: routes in order, header matches, weights, mirror with -shadow hosts.

"Pods" are HTTP stubs on 127.0.0.1 (each with its own port, named ``http`` in its spec) that
record what reaches them; the mesh listens on 127.0.0.1 and routes by the VirtualService and
DestinationRules in an in-memory store, over the ready endpoints of each Service.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.twin.rollouts_support import FakePods, MemoryStore
from twin.cluster.interfaces import Pod
from twin.cluster.mesh import Mesh, Request, matches, shadow_host

NS = "trading-prod"


class StubPod:
    """An HTTP server standing in for one pod; records (host, instrument, body)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                stub.seen.append(
                    {
                        "host": self.headers.get("host"),
                        "instrument": self.headers.get("x-instrument"),
                    }
                    | {"body": body}
                )
                data = json.dumps({"pod": stub.name}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Net:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.pods = FakePods()
        self.stubs: dict[str, StubPod] = {}
        self.mesh = Mesh(bind="127.0.0.1")

    def pod(self, name: str, version: str, ready: bool = True) -> StubPod:
        stub = StubPod(name)
        spec = {
            "containers": [
                {"name": "strategy", "ports": [{"name": "http", "containerPort": stub.port}]}
            ]
        }
        pod = Pod(NS, name, "127.0.0.1", {"app": "s", "version": version}, spec, "Running", ready)
        self.pods.pods[(NS, name)] = pod
        self.stubs[name] = stub
        return stub

    def service(self, name: str, version: str) -> None:
        self.store.apply(
            {
                "kind": "Service",
                "metadata": {"name": name, "namespace": NS},
                "spec": {
                    "selector": {"app": "s", "version": version},
                    "ports": [{"name": "http", "port": 8080, "targetPort": "http"}],
                },
            }
        )

    def virtual_service(self, http: list[dict[str, Any]]) -> None:
        self.store.apply(
            {
                "kind": "VirtualService",
                "metadata": {"name": "strategy-service", "namespace": NS},
                "spec": {"hosts": ["strategy-service"], "http": http},
            }
        )

    def hash_rule(self, host: str) -> None:
        self.store.apply(
            {
                "kind": "DestinationRule",
                "metadata": {"name": host, "namespace": NS},
                "spec": {
                    "host": host,
                    "trafficPolicy": {
                        "loadBalancer": {"consistentHash": {"httpHeaderName": "X-Instrument"}}
                    },
                },
            }
        )

    def send(self, instrument: str) -> httpx.Response:
        address = self.mesh.address(NS, "strategy-service")
        assert address is not None
        return httpx.post(
            f"http://{address[0]}:{address[1]}/v1/signal",
            json={"instrument": instrument},
            headers={"X-Instrument": instrument, "Host": "strategy-service.trading-prod.svc:8080"},
            timeout=5,
        )


@pytest.fixture
def net() -> Iterator[Net]:
    n = Net()
    try:
        yield n
    finally:
        n.mesh.stop()
        for stub in n.stubs.values():
            stub.stop()


PRIMARY = {
    "name": "primary",
    "route": [
        {"destination": {"host": "strategy-service"}, "weight": 100},
        {"destination": {"host": "strategy-service-canary"}, "weight": 0},
    ],
}


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)


def test_header_route_goes_live_to_the_canary_and_the_rest_is_mirrored(net: Net) -> None:
    stable, canary = net.pod("stable-a", "v1"), net.pod("canary-a", "v2")
    net.service("strategy-service", "v1")
    net.service("strategy-service-canary", "v2")
    mirror = {
        "name": "mirror-all",
        "match": [{"headers": {"X-Instrument": {"regex": "^(KO|PEP|PG)$"}}}],
        "route": PRIMARY["route"],
        "mirror": {"host": "strategy-service-canary"},
        "mirrorPercentage": {"value": 100.0},
    }
    header = {
        "name": "instruments-5",
        "match": [{"headers": {"X-Instrument": {"regex": "^(KO)$"}}}],
        "route": [{"destination": {"host": "strategy-service-canary"}, "weight": 100}],
    }
    net.virtual_service([header, mirror, PRIMARY])
    net.mesh.start(net.store, net.pods)
    for instrument in ("KO", "PEP", "PG", "PEP", "XOM"):
        reply = net.send(instrument)
        assert reply.status_code == 200
    wait_for(lambda: len(canary.seen) == 4)
    assert [s["instrument"] for s in stable.seen] == ["PEP", "PG", "PEP", "XOM"]
    live = [s for s in canary.seen if not s["host"].split(":")[0].endswith("-shadow")]
    shadow = [s for s in canary.seen if s["host"].split(":")[0].endswith("-shadow")]
    assert [s["instrument"] for s in live] == ["KO"]
    assert [s["instrument"] for s in shadow] == ["PEP", "PG", "PEP"]  # in order, XOM not matched
    assert shadow[0]["host"] == "strategy-service.trading-prod.svc-shadow:8080"
    assert all(s["host"] == "strategy-service.trading-prod.svc:8080" for s in stable.seen)


def test_weights_and_ordered_routes(net: Net) -> None:
    stable, canary = net.pod("stable-a", "v1"), net.pod("canary-a", "v2")
    net.service("strategy-service", "v1")
    net.service("strategy-service-canary", "v2")
    half = {
        **PRIMARY,
        "route": [dict(PRIMARY["route"][0], weight=50), dict(PRIMARY["route"][1], weight=50)],
    }
    net.virtual_service([half])
    net.mesh.start(net.store, net.pods)
    for _ in range(60):
        assert net.send("KO").status_code == 200
    assert 10 < len(stable.seen) < 50 and len(stable.seen) + len(canary.seen) == 60
    net.virtual_service([PRIMARY])  # Argo sets the weights back: the change applies at once
    before = len(canary.seen)
    for _ in range(10):
        net.send("KO")
    assert len(canary.seen) == before


def test_consistent_hash_keeps_an_instrument_on_one_pod(net: Net) -> None:
    pods = [net.pod(f"stable-{n}", "v1") for n in "abc"]
    net.service("strategy-service", "v1")
    net.hash_rule("strategy-service")
    net.virtual_service([PRIMARY])
    net.mesh.start(net.store, net.pods)
    names = ["KO", "PEP", "PG", "JNJ", "WMT", "MSFT", "AAPL", "JPM"]
    for _ in range(3):
        for instrument in names:
            net.send(instrument)
    owners = {i: {p.name for p in pods if any(s["instrument"] == i for s in p.seen)} for i in names}
    assert all(len(o) == 1 for o in owners.values()), owners
    assert len({next(iter(o)) for o in owners.values()}) > 1  # spread over the pods


def test_only_ready_endpoints_and_no_upstream(net: Net) -> None:
    stable = net.pod("stable-a", "v1", ready=False)
    net.service("strategy-service", "v1")
    net.virtual_service([PRIMARY])
    net.mesh.start(net.store, net.pods)
    reply = net.send("KO")
    assert reply.status_code == 503 and reply.text == "no healthy upstream"
    net.pods.pods[(NS, "stable-a")].ready = True
    assert net.send("KO").status_code == 200 and len(stable.seen) == 1


@pytest.mark.parametrize(
    ("match", "headers", "expected"),
    [
        ({"headers": {"X-Instrument": {"exact": "KO"}}}, {"x-instrument": "KO"}, True),
        ({"headers": {"X-Instrument": {"exact": "KO"}}}, {"x-instrument": "KOF"}, False),
        ({"headers": {"X-Instrument": {"regex": "^(KO|PEP)$"}}}, {"x-instrument": "PEP"}, True),
        ({"headers": {"X-Instrument": {"regex": "KO"}}}, {"x-instrument": "KOF"}, False),  # full
        ({"headers": {"X-Instrument": {"prefix": "K"}}}, {"x-instrument": "KO"}, True),
        ({"headers": {"X-Instrument": {"exact": "KO"}}}, {}, False),
        ({"uri": {"prefix": "/v1/"}, "method": {"exact": "POST"}}, {}, True),
        ({"uri": {"exact": "/healthz"}}, {}, False),
    ],
)
def test_match_semantics(match: dict[str, Any], headers: dict[str, str], expected: bool) -> None:
    request = Request("POST", "/v1/signal", headers, b"", "strategy-service")
    assert matches({"match": [match]}, request) is expected
    assert matches({}, request) is True


def test_shadow_host() -> None:
    assert shadow_host("strategy-service:8080") == "strategy-service-shadow:8080"
    assert shadow_host("strategy-service") == "strategy-service-shadow"
