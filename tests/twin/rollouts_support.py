"""Doubles for the Rollouts/analysis tests: an in-memory object store, pods, a stub Prometheus.

``MemoryStore`` and ``FakePods`` implement ``twin.cluster.interfaces`` (``ObjectStore``,
``PodRunner``) without processes: a test decides when a pod becomes ready or exits.
``StubPrometheus`` is a real HTTP server on 127.0.0.1 answering ``/api/v1/query`` with vectors
scripted per query substring, stopped by the fixture that starts it.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twin.cluster.interfaces import Obj, Pod, key_of


class MemoryStore:
    """``ObjectStore`` in memory; watchers are called synchronously."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.watchers: list[Callable[[str, Obj], None]] = []
        self.lock = threading.RLock()
        self.version = itertools.count(1)

    def _emit(self, event: str, obj: Obj) -> None:
        for watcher in list(self.watchers):
            watcher(event, copy.deepcopy(obj))

    def apply(self, obj: Obj) -> Obj:
        with self.lock:
            key = key_of(obj)
            new = copy.deepcopy(obj)
            old = self.objects.get(key)
            meta = new.setdefault("metadata", {})
            meta["resourceVersion"] = str(next(self.version))
            if old is not None:
                new["status"] = old.get("status", {})
                meta.setdefault("uid", old["metadata"].get("uid"))
                meta.setdefault("creationTimestamp", old["metadata"].get("creationTimestamp"))
            else:
                meta.setdefault("uid", f"uid-{meta['resourceVersion']}")
            self.objects[key] = new
        self._emit("modified" if old else "added", new)
        return copy.deepcopy(new)

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            found = self.objects.get((kind, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (k, ns, _), o in sorted(self.objects.items())
                if k == kind and (namespace is None or ns == namespace)
            ]

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        with self.lock:
            found = self.objects.pop((kind, namespace, name), None)
        if found is not None:
            self._emit("deleted", found)
        return found is not None

    def update_status(self, kind: str, namespace: str, name: str, status: Obj) -> None:
        with self.lock:
            found = self.objects.get((kind, namespace, name))
            if found is None:
                return
            found["status"] = copy.deepcopy(status)
            found["metadata"]["resourceVersion"] = str(next(self.version))
            snapshot = copy.deepcopy(found)
        self._emit("modified", snapshot)

    def watch(self, callback: Callable[[str, Obj], None]) -> None:
        self.watchers.append(callback)


class FakePods:
    """``PodRunner`` without processes: pods get 127.0.9.x addresses; tests set their state.

    ``auto_ready`` makes every new pod Running and ready at once; ``on_start`` lets a test
    decide per pod (e.g. a Job pod that exits 1).
    """

    def __init__(self, auto_ready: bool = True) -> None:
        self.pods: dict[tuple[str, str], Pod] = {}
        self.deleted: list[str] = []
        self.auto_ready = auto_ready
        self.on_start: Callable[[Pod], None] | None = None
        self._ips = itertools.count(2)

    def start(self, namespace: str, name: str, pod_spec: Obj, labels: Mapping[str, str]) -> Pod:
        if (namespace, name) in self.pods:
            raise RuntimeError(f"pod {namespace}/{name} exists")
        n = next(self._ips)
        pod = Pod(namespace, name, f"127.0.{9 + n // 250}.{n % 250 + 1}", dict(labels), pod_spec)
        if self.auto_ready:
            pod.phase, pod.ready = "Running", True
        if self.on_start is not None:
            self.on_start(pod)
        self.pods[(namespace, name)] = pod
        return pod

    def delete(self, pod: Pod, grace_seconds: float | None = None) -> None:
        if self.pods.pop((pod.namespace, pod.name), None) is not None:
            self.deleted.append(pod.name)
            pod.ready = False

    def list(self, namespace: str | None = None) -> list[Pod]:
        return [p for (ns, _), p in self.pods.items() if namespace is None or ns == namespace]


class FakeClock:
    """A clock the test moves."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class StubPrometheus:
    """``/api/v1/query`` on 127.0.0.1: the first script whose key is in the query answers.

    A script is a list of answers used in turn (the last one repeats); an answer is a list of
    floats (a vector), a float (a scalar), ``"error"`` (an API error) or ``"down"`` (HTTP 503).
    """

    def __init__(self) -> None:
        self.scripts: dict[str, list[Any]] = {}
        self.queries: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                query = parse_qs(urlsplit(self.path).query).get("query", [""])[0]
                stub.queries.append(query)
                answer = stub.answer(query)
                if answer == "down":
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps(_payload(answer)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def script(self, key: str, *answers: Any) -> None:
        self.scripts[key] = list(answers)

    def answer(self, query: str) -> Any:
        for key, answers in self.scripts.items():
            if key in query:
                return answers.pop(0) if len(answers) > 1 else answers[0]
        return []

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def _payload(answer: Any) -> dict[str, Any]:
    if answer == "error":
        return {"status": "error", "errorType": "bad_data", "error": "parse error"}
    if isinstance(answer, list):
        result = [{"metric": {}, "value": [0, _text(v)]} for v in answer]
        return {"status": "success", "data": {"resultType": "vector", "result": result}}
    return {"status": "success", "data": {"resultType": "scalar", "result": [0, _text(answer)]}}


def _text(value: float) -> str:
    if value != value:
        return "NaN"
    return repr(float(value))
