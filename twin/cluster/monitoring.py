"""ServiceMonitors -> Prometheus file service discovery, as the Prometheus operator would scrape.

``ServiceMonitorTargets`` (an ``interfaces.Controller``) writes, for every namespace with a
``ServiceMonitor``, ``<home>/prometheus/file_sd/<namespace>.json``: one target group per pod of
every Service the monitor selects (``spec.selector.matchLabels``; ``namespaceSelector`` or the
monitor's own namespace) at each endpoint's named port, with the labels the operator gives:
``namespace``, ``service``, ``pod``, ``container``, ``endpoint``, ``job`` (the Service name, or
the value of its ``jobLabel`` label), the pod labels listed in ``podTargetLabels`` (names
sanitised: ``rollouts-pod-template-hash`` -> ``rollouts_pod_template_hash``), and
``__metrics_path__`` from the endpoint's ``path``. Like the operator (role ``endpoints``), every
running pod is a target, ready or not. The twin's Prometheus reads the folder with
``file_sd_configs`` (``files: [<home>/prometheus/file_sd/*.json]``, its own scrape interval);
Prometheus only watches a folder that exists when it starts (else it re-reads every
``refresh_interval``, 5 min by default), so create the folder first or set a short refresh.
Files are rewritten atomically when they change (pod start, stop, readiness, new monitors).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

from pipelines.io import atomic
from twin.cluster.interfaces import Controller, Obj, ObjectStore, Pod, PodRunner

log = logging.getLogger(__name__)
FILE_SD = Path("prometheus") / "file_sd"


def label_name(name: str) -> str:
    """A Kubernetes label name as a Prometheus label name."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _port(pod: Pod, service: Obj, port_name: str) -> tuple[int, str] | None:
    for spec in (service.get("spec") or {}).get("ports") or []:
        if spec.get("name") != port_name:
            continue
        target = spec.get("targetPort", spec.get("port"))
        for container in pod.spec.get("containers") or []:
            for port in container.get("ports") or []:
                if target in (port.get("name"), port.get("containerPort")):
                    return int(port["containerPort"]), str(container.get("name", ""))
        if isinstance(target, int):
            return target, ""
    return None


def targets(store: ObjectStore, pods: PodRunner, monitor: Obj) -> list[dict[str, Any]]:
    """The file_sd target groups of one ServiceMonitor."""
    spec = monitor.get("spec") or {}
    home_ns = monitor["metadata"].get("namespace", "")
    wanted = (spec.get("namespaceSelector") or {}).get("matchNames") or [home_ns]
    groups = []
    for namespace in wanted:
        for service in store.list("Service", namespace):
            labels = (service.get("metadata") or {}).get("labels") or {}
            selector = (service.get("spec") or {}).get("selector") or {}
            if not _selects(spec.get("selector") or {}, labels) or not selector:
                continue
            name = service["metadata"]["name"]
            job = labels.get(str(spec.get("jobLabel", "")), name) if spec.get("jobLabel") else name
            for pod in sorted(pods.list(namespace), key=lambda p: p.name):
                if pod.phase != "Running" or pod.extra.get("deleted"):
                    continue
                if any(pod.labels.get(k) != v for k, v in selector.items()):
                    continue
                for endpoint in spec.get("endpoints") or []:
                    found = _port(pod, service, str(endpoint.get("port", "")))
                    if found is None:
                        continue
                    port, container = found
                    group_labels = {
                        "namespace": namespace,
                        "service": name,
                        "pod": pod.name,
                        "container": container,
                        "endpoint": str(endpoint.get("port", "")),
                        "job": job,
                        "__metrics_path__": str(endpoint.get("path", "/metrics")),
                    }
                    for key in spec.get("podTargetLabels") or []:
                        if key in pod.labels:
                            group_labels[label_name(key)] = pod.labels[key]
                    groups.append({"targets": [f"{pod.ip}:{port}"], "labels": group_labels})
    return groups


class ServiceMonitorTargets:
    """Keeps ``<home>/prometheus/file_sd/<namespace>.json`` current (see module doc)."""

    def __init__(self, home: Path, poll_seconds: float = 1.0) -> None:
        self.folder = home / FILE_SD
        self.poll_seconds = poll_seconds
        self.store: ObjectStore | None = None
        self.pods: PodRunner | None = None
        self._written: dict[str, str] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, store: ObjectStore, pods: PodRunner) -> None:
        """Write the files now and whenever pods, Services or monitors change."""
        self.store, self.pods = store, pods
        self.folder.mkdir(parents=True, exist_ok=True)  # Prometheus watches it once it exists
        store.watch(lambda event, obj: self._wake.set())
        subscribe = getattr(pods, "subscribe", None)
        if callable(subscribe):
            subscribe(lambda pod: self._wake.set())
        self.write()
        self._thread = threading.Thread(target=self._loop, name="file-sd", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                self.write()
            except Exception:
                log.exception("file_sd: write failed")

    def write(self) -> list[Path]:
        """Write every namespace's file that changed; returns the files written."""
        assert self.store is not None and self.pods is not None  # noqa: S101 - started
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for monitor in self.store.list("ServiceMonitor"):
            namespace = monitor["metadata"].get("namespace", "")
            by_namespace.setdefault(namespace, []).extend(targets(self.store, self.pods, monitor))
        for namespace in set(self._written) - set(by_namespace):
            by_namespace[namespace] = []  # a monitor went away: no targets left
        written = []
        for namespace, groups in sorted(by_namespace.items()):
            text = json.dumps(groups, indent=1, sort_keys=True)
            if self._written.get(namespace) == text:
                continue
            path = self.folder / f"{namespace}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(path, text + "\n")
            self._written[namespace] = text
            written.append(path)
        return written

    def stop(self) -> None:
        """Stop updating (the files stay; an empty cluster writes empty lists on restart)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def controllers(home: Path) -> list[Controller]:
    """What the cluster process starts from this module (``twin.cluster.controllers``)."""
    return [ServiceMonitorTargets(home)]
