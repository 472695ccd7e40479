"""The Argo Workflows controller of the twin (a ``Controller``): runs every Workflow object.

A new Workflow (no phase yet) starts a ``WorkflowRun`` thread. ``spec.shutdown`` (set by the
Argo Server API's stop/terminate) is passed to its run. Deleting a Workflow terminates it.
Workflows found Running when the cluster starts cannot be resumed (their pods died with the
previous cluster process): they end in Error saying so; Pending ones start again.
"""

from __future__ import annotations

import logging
import queue
import threading

from twin.cluster.argo_run import WorkflowRun
from twin.cluster.argo_sync import Mutexes
from twin.cluster.interfaces import Obj, ObjectStore, PodRunner
from twin.cluster.pods import LocalPodRunner
from twin.cluster.store import now_rfc3339

log = logging.getLogger(__name__)


class ArgoExecutor:
    """Runs Workflows (see module doc)."""

    def __init__(self) -> None:
        self.mutexes = Mutexes()
        self.runs: dict[tuple[str, str], WorkflowRun] = {}
        self._threads: list[threading.Thread] = []
        self._queue: queue.Queue[tuple[str, Obj] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._store: ObjectStore | None = None
        self._pods: LocalPodRunner | None = None
        self._loop: threading.Thread | None = None
        self._started: set[str] = set()

    def start(self, store: ObjectStore, pods: PodRunner) -> None:
        """Resume what can be resumed, then watch for Workflows."""
        if not isinstance(pods, LocalPodRunner):
            raise TypeError("the Argo executor needs the cluster's LocalPodRunner")
        self._store, self._pods = store, pods
        for workflow in store.list("Workflow"):
            meta = workflow["metadata"]
            phase = (workflow.get("status") or {}).get("phase", "")
            if phase == "Running":
                status = {
                    **workflow["status"],
                    "phase": "Error",
                    "finishedAt": now_rfc3339(),
                    "message": "the twin's cluster restarted while this workflow ran",
                }
                store.update_status("Workflow", meta.get("namespace", ""), meta["name"], status)
            elif phase in ("", "Pending"):
                self._queue.put(("added", workflow))
        store.watch(
            lambda event, obj: (
                self._queue.put((event, obj)) if obj.get("kind") == "Workflow" else None
            )
        )
        self._loop = threading.Thread(target=self._serve, name="argo-executor", daemon=True)
        self._loop.start()

    def stop(self) -> None:
        """Terminate every running workflow (their pods are deleted) and wait for them."""
        self._queue.put(None)
        with self._lock:
            runs = list(self.runs.values())
        for run in runs:
            run.shutdown("Terminate")
        for thread in list(self._threads):
            thread.join(timeout=30)

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event, workflow = item
            meta = workflow["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            try:
                self._handle(event, key, workflow)
            except Exception:
                log.exception("argo executor: %s %s/%s", event, *key)

    def _handle(self, event: str, key: tuple[str, str], workflow: Obj) -> None:
        with self._lock:
            run = self.runs.get(key)
        if event == "deleted":
            if run is not None:
                run.shutdown("Terminate")
            return
        if run is not None:
            strategy = (workflow.get("spec") or {}).get("shutdown")
            if strategy:
                run.shutdown(str(strategy))
            return
        assert self._store is not None  # noqa: S101 - set by start()
        current = self._store.get("Workflow", *key)
        uid = (current or {}).get("metadata", {}).get("uid", "")
        if current is None or uid in self._started:
            return
        if (current.get("status") or {}).get("phase") not in (None, "", "Pending"):
            return
        self._started.add(uid)
        workflow = current
        assert self._store is not None and self._pods is not None  # noqa: S101 - set by start()
        run = WorkflowRun(self._store, self._pods, self.mutexes, workflow)
        if (workflow.get("spec") or {}).get("shutdown"):
            run.shutdown(str(workflow["spec"]["shutdown"]))
        thread = threading.Thread(
            target=self._run, args=(key, run), name=f"wf-{key[1]}", daemon=True
        )
        with self._lock:
            self.runs[key] = run
            self._threads.append(thread)
        thread.start()

    def _run(self, key: tuple[str, str], run: WorkflowRun) -> None:
        try:
            run.run()
        finally:
            with self._lock:
                self.runs.pop(key, None)
