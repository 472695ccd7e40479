"""The twin's Argo Rollouts controller: ``RolloutController`` (an ``interfaces.Controller``).

It reconciles every ``Rollout`` in the store as argo-rollouts' ``rollout/controller.go`` does:
the pod-template hash names a ReplicaSet (created with the next revision, or an older one
reused and given the next revision); a new hash or new canary steps reset the update
(``resetRolloutStatus``): back to step 0, unless the hash is the stable one ("Rollback to
stable": every step skipped) or ``rollbackWindow`` holds it and its ReplicaSet still has
replicas (fast-track). Then the strategy runs (:mod:`rollouts_canary`,
:mod:`rollouts_bluegreen`), the ReplicaSets' pods are started or deleted through the
PodRunner, and the status is written with ``store.update_status``: ``phase`` and ``message``
(Healthy, Progressing, Paused, Degraded), ``currentPodHash``, ``stableRS``,
``currentStepIndex``, ``pauseConditions``, ``abort``, ``conditions``, ``canary`` /
``blueGreen`` (services, weights, AnalysisRun statuses) and the replica counts.

People act through the ``kubectl-argo-rollouts`` shim, which changes the status fields the
real plugin patches; the controller reads them: a pause condition it wrote that disappeared is
a promote (a pause step completes, an Inconclusive canary analysis step is skipped, an
Inconclusive blue/green analysis re-runs, a ``BlueGreenPause`` switches), ``abort: true`` aborts
("Rollout aborted update to revision N"), ``abort: false`` after an abort retries from step 0,
``promoteFull: true`` skips every remaining step and analysis.

Cluster wiring: ``twin.cluster.controllers`` calls :func:`controllers` of this module.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from twin.cluster import rollouts_analysis as analysis
from twin.cluster import rollouts_bluegreen, rollouts_canary, rollouts_status
from twin.cluster.analysis_rules import to_time
from twin.cluster.interfaces import Controller, Obj, ObjectStore, PodRunner
from twin.cluster.rollouts_replicasets import (
    REVISION,
    PodSet,
    created_of,
    fnv32a,
    hash_of,
    new_replicaset,
    owned_replicasets,
    pod_template_hash,
    revision_of,
    safe_encode,
)
from twin.cluster.rollouts_status import Context

log = logging.getLogger(__name__)
WATCHED = {"Rollout", "ReplicaSet", "Service", "AnalysisRun", "VirtualService", "Pod"}
INPUTS = ("abort", "promoteFull", "pauseConditions", "controllerPause", "currentStepIndex")


def step_hash(rollout: Obj) -> str:
    """``currentStepHash`` of a canary (``conditions.ComputeStepHash``); "" for blue/green."""
    canary = (rollout["spec"].get("strategy") or {}).get("canary")
    if canary is None:
        return ""
    data = json.dumps(canary.get("steps") or [], sort_keys=True, separators=(",", ":"))
    return safe_encode(str(fnv32a(data.encode())))


def _strategy(rollout: Obj) -> str:
    return "blueGreen" if "blueGreen" in (rollout["spec"].get("strategy") or {}) else "canary"


class RolloutController:
    """Reconciles Rollouts (see module doc)."""

    def __init__(self, clock: Any = time.time, poll_seconds: float = 0.5) -> None:
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.store: ObjectStore | None = None
        self.podset: PodSet | None = None
        self._written: dict[tuple[str, str], Obj] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, store: ObjectStore, pods: PodRunner) -> None:
        """Bind to a store and pods without starting the thread (tests drive ``reconcile``)."""
        self.store = store
        self.podset = PodSet(pods)
        store.watch(self._on_event)
        subscribe = getattr(pods, "subscribe", None)
        if callable(subscribe):
            subscribe(lambda pod: self._mark_namespace(pod.namespace))

    def start(self, store: ObjectStore, pods: PodRunner) -> None:
        """Watch the store and reconcile in a thread of its own."""
        self.attach(store, pods)
        self._thread = threading.Thread(target=self._loop, name="rollouts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reconciling and delete the pods of every ReplicaSet it owns."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.store is None or self.podset is None:
            return
        pods = [p for rs in self.store.list("ReplicaSet") for p in self.podset.of(rs)]
        threads = [threading.Thread(target=self.podset.pods.delete, args=(p,)) for p in pods]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    def _on_event(self, event: str, obj: Obj) -> None:
        if obj.get("kind") in WATCHED:
            self._wake.set()

    def _mark_namespace(self, namespace: str) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                self.reconcile_due()
            except Exception:
                log.exception("rollouts controller: reconcile failed")

    def reconcile_due(self) -> None:
        """Reconcile every Rollout (on each change in the store and at least every poll).

        Timed work (pause durations, scale-down deadlines, the progress deadline) is checked
        against the clock on every pass, so a poll of ``poll_seconds`` bounds its delay.
        """
        assert self.store is not None  # noqa: S101 - attached
        for rollout in self.store.list("Rollout"):
            meta = rollout["metadata"]
            self.reconcile(meta.get("namespace", ""), meta["name"])

    def reconcile(self, namespace: str, name: str) -> Obj | None:
        """One reconcile of one Rollout; returns the status it wrote (None: no such Rollout)."""
        assert self.store is not None and self.podset is not None  # noqa: S101 - attached
        rollout = self.store.get("Rollout", namespace, name)
        key = (namespace, name)
        if rollout is None:
            self._written.pop(key, None)
            return None
        old = copy.deepcopy(rollout.get("status") or {})
        ctx = Context(self.store, self.podset, rollout, old, copy.deepcopy(old), self.clock())
        promoted = self._inputs(ctx, self._written.get(key))
        self._replicasets(ctx)
        if ctx.condition("InvalidSpec") is None:
            strategy = rollouts_bluegreen if _strategy(rollout) == "blueGreen" else rollouts_canary
            strategy.reconcile(ctx, promoted)
        for rs in owned_replicasets(self.store, rollout):
            self.podset.sync(rs)
            self._rs_status(rs)
        self._finish(ctx)
        current = (self.store.get("Rollout", namespace, name) or {}).get("status") or {}
        if any(current.get(k) != old.get(k) for k in INPUTS):
            self._mark_namespace(namespace)  # a person acted meanwhile: read it again
            return current
        if ctx.status != old:
            self.store.update_status("Rollout", namespace, name, ctx.status)
        self._written[key] = copy.deepcopy(ctx.status)
        return ctx.status

    def _inputs(self, ctx: Context, written: Obj | None) -> bool:
        """Apply what a person changed since the last write; True for a promote."""
        status = ctx.status
        if status.get("abort") and not status.get("abortedAt"):  # `kubectl argo rollouts abort`
            status["abortedAt"] = to_time(ctx.now)
        if written is None:
            return False
        if written.get("abort") and not status.get("abort"):  # retry
            for field in ("abortedAt",):
                status.pop(field, None)
            status["currentStepIndex"] = 0 if status.get("currentStepIndex") is not None else None
            status.get("canary", {}).pop("currentStepAnalysisRunStatus", None)
            status["conditions"] = [
                c
                for c in status.get("conditions") or []
                if c.get("reason") != rollouts_status.ABORTED
            ]
        mine = {c.get("reason") for c in written.get("pauseConditions") or []}
        now = {c.get("reason") for c in status.get("pauseConditions") or []}
        promoted = bool(mine - now)
        if promoted:
            status["controllerPause"] = bool(now)
        return promoted

    def _replicasets(self, ctx: Context) -> None:
        """Find or create the new ReplicaSet; reset the update when the template changed."""
        assert self.store is not None  # noqa: S101 - attached
        rollout = ctx.rollout
        pod_hash = pod_template_hash(rollout["spec"]["template"])
        all_rs = owned_replicasets(self.store, rollout)
        newest = max((revision_of(rs) for rs in all_rs), default=0)
        new_rs = next((rs for rs in all_rs if hash_of(rs) == pod_hash), None)
        changed = ctx.status.get("currentPodHash") != pod_hash or ctx.status.get(
            "currentStepHash", ""
        ) != step_hash(rollout)
        if new_rs is None:
            # creation order must be strict even within one clock tick (rollbackWindow)
            created = max([ctx.now, *(created_of(rs) + 1e-6 for rs in all_rs)])
            new_rs = self.store.apply(new_replicaset(rollout, pod_hash, newest + 1, created))
            all_rs.append(new_rs)
        elif changed and revision_of(new_rs) < newest:
            bumped = copy.deepcopy(new_rs)
            bumped["metadata"]["annotations"][REVISION] = str(newest + 1)
            new_rs = self.store.apply(bumped)
            all_rs = [new_rs if hash_of(r) == pod_hash else r for r in all_rs]
        ctx.all_rs, ctx.new_rs = all_rs, new_rs
        ctx.stable_rs = next((r for r in all_rs if hash_of(r) == ctx.stable_hash), None)
        if changed:
            self._reset(ctx, pod_hash)
        elif self._within_window(ctx):
            self._skip_steps(ctx)

    def _reset(self, ctx: Context, pod_hash: str) -> None:
        status = ctx.status
        for section, key in (
            ("canary", "currentStepAnalysisRunStatus"),
            ("blueGreen", "prePromotionAnalysisRunStatus"),
            ("blueGreen", "postPromotionAnalysisRunStatus"),
        ):
            analysis.cancel(
                ctx.store, ctx.namespace, ((status.get(section) or {}).get(key) or {}).get("name")
            )
            (status.get(section) or {}).pop(key, None)
        for field in ("abort", "abortedAt", "promoteFull"):
            status.pop(field, None)
        ctx.clear_pauses()
        status["conditions"] = [
            c
            for c in status.get("conditions") or []
            if c.get("reason") not in (rollouts_status.ABORTED, rollouts_status.TIMED_OUT)
            and c.get("type") != "InvalidSpec"
        ]
        steps = ((ctx.spec.get("strategy") or {}).get("canary") or {}).get("steps") or []
        status["currentPodHash"] = pod_hash
        status["currentStepHash"] = step_hash(ctx.rollout)
        status["currentStepIndex"] = 0 if steps else None
        if steps and (ctx.stable_hash == pod_hash or self._within_window(ctx)):
            status["currentStepIndex"] = len(steps)

    def _within_window(self, ctx: Context) -> bool:
        """``isRollbackWithinWindow``: an older ReplicaSet, still scaled, few revisions back."""
        window = (ctx.spec.get("rollbackWindow") or {}).get("revisions")
        new, stable = ctx.new_rs, ctx.stable_rs
        if not window or new is None or stable is None or new is stable:
            return False
        if created_of(new) >= created_of(stable) or int(new["spec"].get("replicas") or 0) == 0:
            return False
        between = [rs for rs in ctx.all_rs if created_of(new) < created_of(rs) < created_of(stable)]
        return len(between) < int(window)

    def _skip_steps(self, ctx: Context) -> None:
        steps = ((ctx.spec.get("strategy") or {}).get("canary") or {}).get("steps") or []
        if steps:
            ctx.status["currentStepIndex"] = len(steps)
            ctx.clear_pauses()
            ctx.status.pop("abort", None)

    def _rs_status(self, rs: Obj) -> None:
        assert self.store is not None and self.podset is not None  # noqa: S101 - attached
        pods = self.podset.of(rs)
        ready = sum(1 for p in pods if p.ready)
        status = {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready}
        if (rs.get("status") or {}) != status:
            meta = rs["metadata"]
            self.store.update_status("ReplicaSet", meta.get("namespace", ""), meta["name"], status)

    def _finish(self, ctx: Context) -> None:
        """Counts, the Progressing condition, phase and message."""
        rollouts_status.replica_counts(ctx)
        completed = (
            bool(ctx.stable_hash)
            and ctx.stable_hash == ctx.new_hash
            and ctx.status.get("availableReplicas", 0) >= ctx.replicas
            and ctx.status.get("replicas", 0) <= ctx.replicas
        )
        steps = ((ctx.spec.get("strategy") or {}).get("canary") or {}).get("steps") or []
        index = ctx.status.get("currentStepIndex")
        step = steps[index] if steps and index is not None and index < len(steps) else {}
        indefinite = any(k in step for k in ("analysis", "pause", "experiment"))
        rollouts_status.progress_conditions(ctx, completed, indefinite)
        ctx.status["phase"], ctx.status["message"] = rollouts_status.phase(ctx.spec, ctx.status)
        ctx.status["observedGeneration"] = str(ctx.rollout["metadata"].get("generation") or "")


def controllers(home: Path) -> list[Controller]:
    """What the cluster process starts from this module (``twin.cluster.controllers``)."""
    return [RolloutController()]
