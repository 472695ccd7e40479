"""The twin's AnalysisRun controller: measures every AnalysisRun in the store as Argo does.

``AnalysisRunController`` (an ``interfaces.Controller``) watches ``AnalysisRun`` objects and
reconciles each one when it is created, when its spec changes (``spec.terminate``, set by the
Rollouts controller to cancel it), and when its next measurement is due
(:func:`twin.cluster.analysis_run.reconcile`). The status it writes is Argo's
(``phase``, ``message``, ``startedAt``, ``metricResults[].measurements``, ``runSummary``),
so ``kubectl get analysisrun -o yaml`` and the Rollouts controller read the same thing.

Providers: Prometheus and Job (:mod:`twin.cluster.analysis_providers`). Cluster names in a
Prometheus address are resolved like a pod resolves them: through the cluster DNS table of the
pod runner when it has one (``pods.dns``), else through the twin's ``state.json``
(``prometheus-operated.monitoring.svc:9090`` is the ``prometheus`` service).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from twin import state
from twin.cluster.analysis_providers import Clock, Resolver, provider_factory
from twin.cluster.analysis_rules import COMPLETED, Obj
from twin.cluster.analysis_run import ProviderFactory, reconcile
from twin.cluster.interfaces import Controller, ObjectStore, PodRunner, key_of

log = logging.getLogger(__name__)
HOST_ALIAS = "127.254.0.1"  # the pod network's name for the host's 127.0.0.1 (twin.cluster.dns)
TWIN_SERVICES = {
    "prometheus-operated.monitoring.svc": "prometheus",
    "prometheus-operated.monitoring.svc.cluster.local": "prometheus",
    "pushgateway.monitoring.svc": "pushgateway",
}


def cluster_resolver(home: Path | None, pods: Any) -> Resolver:
    """Resolve ``host:port`` as a pod would (see module doc); unknown names stay as they are."""

    def resolve(host: str, port: int) -> tuple[str, int]:
        dns = getattr(pods, "dns", None)
        if dns is not None:
            found = dns.resolve(host, port)
            if found:
                ip, real_port = found[0]
                return ("127.0.0.1" if ip == HOST_ALIAS else ip), int(real_port)
        name = TWIN_SERVICES.get(host)
        if name and home is not None:
            url = state.load(home)["services"].get(name, {}).get("url", "")
            if url:
                hostport = str(url).split("://", 1)[-1].split("/", 1)[0]
                real_host, _, real_port = hostport.rpartition(":")
                return real_host, int(real_port)
        return host, port

    return resolve


class AnalysisRunController:
    """Reconciles AnalysisRuns (see module doc)."""

    def __init__(
        self,
        home: Path | None = None,
        resolve: Resolver | None = None,
        clock: Clock = time.time,
        poll_seconds: float = 0.25,
        providers: ProviderFactory | None = None,
    ) -> None:
        self.home = home
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._resolve = resolve
        self._providers = providers
        self._due: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.store: ObjectStore | None = None

    def start(self, store: ObjectStore, pods: PodRunner) -> None:
        """Watch the store and reconcile in a thread of its own."""
        self.store = store
        if self._providers is None:
            resolve = self._resolve or cluster_resolver(self.home, pods)
            self._providers = provider_factory(resolve, store, pods, self.clock)
        for run in store.list("AnalysisRun"):
            self._mark(run, self.clock())
        store.watch(self._on_event)
        self._thread = threading.Thread(target=self._loop, name="analysisruns", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reconciling (Job pods end with their runs or with the cluster)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _on_event(self, event: str, obj: Obj) -> None:
        if obj.get("kind") != "AnalysisRun":
            return
        if event == "deleted":
            with self._lock:
                self._due.pop(key_of(obj), None)
            return
        if (obj.get("status") or {}).get("phase") in COMPLETED:
            return
        self._mark(obj, self.clock())

    def _mark(self, run: Obj, when: float) -> None:
        with self._lock:
            key = key_of(run)
            self._due[key] = min(when, self._due.get(key, when))
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                self.reconcile_due()
            except Exception:
                log.exception("analysis controller: reconcile failed")

    def reconcile_due(self) -> int:
        """Reconcile every run whose time has come; returns how many were reconciled."""
        now = self.clock()
        with self._lock:
            due = [k for k, t in self._due.items() if t <= now]
            for key in due:
                self._due.pop(key, None)
        for key in due:
            self.reconcile_one(*key)
        return len(due)

    def reconcile_one(self, kind: str, namespace: str, name: str) -> Obj | None:
        """Reconcile one run now; returns its new status (None when it is gone)."""
        assert self.store is not None and self._providers is not None  # noqa: S101 - started
        run = self.store.get(kind, namespace, name)
        if run is None:
            return None
        status, next_time = reconcile(run, self._providers, self.clock())
        if status != (run.get("status") or {}):
            self.store.update_status(kind, namespace, name, status)
        if status.get("phase") in COMPLETED:
            log.info(
                "AnalysisRun %s/%s: %s %s",
                namespace,
                name,
                status["phase"],
                status.get("message", ""),
            )
        elif next_time is not None:
            with self._lock:
                key = (kind, namespace, name)
                self._due[key] = min(next_time, self._due.get(key, next_time))
        return status


def controllers(home: Path) -> list[Controller]:
    """What the cluster process starts from this module (``twin.cluster.controllers``)."""
    return [AnalysisRunController(home)]
