"""The state of one Rollout reconcile: pause and abort bookkeeping, conditions and the phase.

Semantics from argo-rollouts ``rollout/pause.go`` (pause conditions, abort),
``rollout/sync.go`` (``calculateRolloutConditions``: the Progressing condition, abort and
progress-deadline messages, ``progressDeadlineAbort``) and ``utils/rollout/rolloututil.go``
(``CalculateRolloutPhase``: Healthy, Progressing, Paused or Degraded with its message, as
``kubectl argo rollouts status`` prints them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twin.cluster.analysis_rules import from_time, to_time
from twin.cluster.interfaces import Obj, ObjectStore
from twin.cluster.rollouts_replicasets import PodSet, hash_of, revision_of

ABORTED = "RolloutAborted"
TIMED_OUT = "ProgressDeadlineExceeded"
INVALID = "InvalidSpec"


@dataclass
class Context:
    """One reconcile of one Rollout: inputs, the status being built, when to come back."""

    store: ObjectStore
    podset: PodSet
    rollout: Obj
    old: Obj
    status: Obj
    now: float
    all_rs: list[Obj] = field(default_factory=list)
    new_rs: Obj | None = None
    stable_rs: Obj | None = None
    abort_message: str = ""
    requeue: float | None = None

    @property
    def namespace(self) -> str:
        """The Rollout's namespace."""
        return str(self.rollout["metadata"].get("namespace", ""))

    @property
    def name(self) -> str:
        """The Rollout's name."""
        return str(self.rollout["metadata"]["name"])

    @property
    def spec(self) -> Obj:
        """The Rollout's spec."""
        return dict(self.rollout["spec"])

    @property
    def replicas(self) -> int:
        """``spec.replicas`` (default 1)."""
        return int(self.spec.get("replicas", 1))

    @property
    def new_hash(self) -> str:
        """Hash of the current pod template's ReplicaSet."""
        return hash_of(self.new_rs)

    @property
    def stable_hash(self) -> str:
        """Hash of the stable ReplicaSet."""
        return str(self.status.get("stableRS", ""))

    @property
    def revision(self) -> int:
        """Revision of the new ReplicaSet."""
        return revision_of(self.new_rs)

    def wake_at(self, when: float) -> None:
        """Reconcile again no later than ``when``."""
        self.requeue = when if self.requeue is None else min(self.requeue, when)

    def pause_reasons(self) -> list[str]:
        """Reasons of the current pause conditions."""
        return [str(c.get("reason")) for c in self.status.get("pauseConditions") or []]

    def add_pause(self, reason: str) -> None:
        """Pause for ``reason`` (once), as the controller does (``controllerPause``)."""
        if reason not in self.pause_reasons():
            conditions = list(self.status.get("pauseConditions") or [])
            conditions.append({"reason": reason, "startTime": to_time(self.now)})
            self.status["pauseConditions"] = conditions
        self.status["controllerPause"] = True

    def pause_started(self, reason: str) -> float | None:
        """When the pause for ``reason`` began (None: not paused for it)."""
        for cond in self.status.get("pauseConditions") or []:
            if cond.get("reason") == reason:
                return from_time(str(cond["startTime"]))
        return None

    def remove_pause(self, reason: str) -> None:
        """End the pause for ``reason``."""
        kept = [c for c in self.status.get("pauseConditions") or [] if c.get("reason") != reason]
        self.status["pauseConditions"] = kept
        if not kept:
            self.status["controllerPause"] = False

    def clear_pauses(self) -> None:
        """End every pause."""
        self.status["pauseConditions"] = []
        self.status["controllerPause"] = False

    @property
    def aborted(self) -> bool:
        """The update was aborted (by analysis, progress deadline or a person)."""
        return bool(self.status.get("abort"))

    def abort(self, message: str) -> None:
        """Abort the update (``AddAbort``): routes back to stable, canary scaled down."""
        if not self.aborted:
            self.status["abort"] = True
            self.status["abortedAt"] = to_time(self.now)
        self.abort_message = message

    def set_condition(
        self, kind: str, state: str, reason: str, message: str, *, refresh: bool = False
    ) -> None:
        """Set a condition; its transition time changes only when its status does.

        As Argo's ``SetRolloutCondition``, an unchanged condition (same status, reason and
        message) is left as it is, update time included, so a settled Rollout's status stops
        changing. ``refresh`` is Argo's special case for Progressing: new update time on progress.
        """
        current = self.condition(kind)
        unchanged = current is not None and (
            (current.get("status"), current.get("reason"), current.get("message"))
            == (state, reason, message)
        )
        if unchanged and not refresh:
            return
        conditions = [c for c in self.status.get("conditions") or [] if c.get("type") != kind]
        old = next((c for c in self.old.get("conditions") or [] if c.get("type") == kind), None)
        changed = old is None or old.get("status") != state
        stamp = to_time(self.now)
        since = stamp if old is None or changed else old.get("lastTransitionTime", stamp)
        conditions.append(
            {
                "type": kind,
                "status": state,
                "reason": reason,
                "message": message,
                "lastUpdateTime": stamp,
                "lastTransitionTime": since,
            }
        )
        self.status["conditions"] = conditions

    def condition(self, kind: str) -> Obj | None:
        """The current condition of ``kind``."""
        for cond in self.status.get("conditions") or []:
            if cond.get("type") == kind:
                return dict(cond)
        return None


def replica_counts(ctx: Context) -> None:
    """``replicas``, ``updatedReplicas``, ``readyReplicas``, ``availableReplicas``."""
    pods = {rs["metadata"]["name"]: ctx.podset.of(rs) for rs in ctx.all_rs}
    ctx.status["replicas"] = sum(len(p) for p in pods.values())
    ctx.status["updatedReplicas"] = (
        len(pods.get(ctx.new_rs["metadata"]["name"], [])) if ctx.new_rs else 0
    )
    ready = sum(1 for group in pods.values() for p in group if p.ready)
    ctx.status["readyReplicas"] = ctx.status["availableReplicas"] = ready


def _progressed(ctx: Context) -> bool:
    old, new = ctx.old, ctx.status
    strategy = ctx.spec.get("strategy") or {}
    specific = False
    if "blueGreen" in strategy:
        old_bg, new_bg = old.get("blueGreen") or {}, new.get("blueGreen") or {}
        specific = any(
            old_bg.get(k) != new_bg.get(k) for k in ("activeSelector", "previewSelector")
        )
    else:
        specific = any(
            old.get(k) != new.get(k) for k in ("stableRS", "currentStepIndex", "currentStepHash")
        )
    old_left = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_left = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return (
        new.get("updatedReplicas") != old.get("updatedReplicas")
        or new_left < old_left
        or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
        or specific
    )


def progress_conditions(ctx: Context, completed: bool, indefinite: bool) -> None:
    """The Progressing condition: aborted, completed, progressing or timed out."""
    rs_name = ctx.new_rs["metadata"]["name"] if ctx.new_rs else ctx.name
    if ctx.aborted:
        message = f"Rollout aborted update to revision {ctx.revision}"
        if ctx.abort_message:
            message += f": {ctx.abort_message}"
        current = ctx.condition("Progressing")
        if current is None or current.get("reason") != ABORTED or ctx.abort_message:
            ctx.set_condition("Progressing", "False", ABORTED, message)
        return
    current = ctx.condition("Progressing")
    if completed:
        message = f'ReplicaSet "{rs_name}" has successfully progressed.'
        ctx.set_condition("Progressing", "True", "NewReplicaSetAvailable", message)
        return
    deadline = float(ctx.spec.get("progressDeadlineSeconds", 600))
    paused = bool(ctx.status.get("pauseConditions")) or bool(ctx.spec.get("paused"))
    if current is None or _progressed(ctx) or current.get("reason") == "NewReplicaSetAvailable":
        message = f'ReplicaSet "{rs_name}" is progressing.'
        ctx.set_condition("Progressing", "True", "ReplicaSetUpdated", message, refresh=True)
        ctx.wake_at(ctx.now + deadline)
        return
    if current.get("reason") == TIMED_OUT or indefinite or paused:
        return  # analysis and pause steps do not count against the deadline
    last = from_time(str(current.get("lastUpdateTime")))
    if ctx.now < last + deadline:
        ctx.wake_at(last + deadline)
        return
    message = f'ReplicaSet "{rs_name}" has timed out progressing.'
    ctx.set_condition("Progressing", "False", TIMED_OUT, message)
    if ctx.spec.get("progressDeadlineAbort"):
        ctx.abort(message)
        ctx.set_condition(
            "Progressing",
            "False",
            ABORTED,
            f"Rollout aborted update to revision {ctx.revision}: {message}",
        )


def phase(spec: Obj, status: Obj) -> tuple[str, str]:
    """``(phase, message)`` as ``CalculateRolloutPhase`` computes them."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == INVALID:
            return "Degraded", f"{INVALID}: {cond.get('message', '')}"
        if cond.get("reason") in (ABORTED, TIMED_OUT):
            return "Degraded", f"{cond['reason']}: {cond.get('message', '')}"
    if spec.get("paused"):
        return "Paused", "manually paused"
    for cond in status.get("pauseConditions") or []:
        return "Paused", str(cond.get("reason"))
    replicas = int(spec.get("replicas", 1))
    if status.get("updatedReplicas", 0) < replicas:
        return "Progressing", "more replicas need to be updated"
    if status.get("availableReplicas", 0) < status.get("updatedReplicas", 0):
        return "Progressing", "updated replicas are still becoming available"
    strategy = spec.get("strategy") or {}
    current, stable = status.get("currentPodHash"), status.get("stableRS")
    if "blueGreen" in strategy:
        blue_green: dict[str, Any] = status.get("blueGreen") or {}
        if blue_green.get("activeSelector") != current:
            return "Progressing", "active service cutover pending"
        if not stable or stable != current:
            post = blue_green.get("postPromotionAnalysisRunStatus") or {}
            if strategy["blueGreen"].get("postPromotionAnalysis") and post.get("status") not in (
                "Successful",
                "Failed",
                "Error",
                "Inconclusive",
            ):
                return "Progressing", "waiting for analysis to complete"
            return "Progressing", "waiting for post-promotion verification to complete"
    else:
        canary = strategy.get("canary") or {}
        if not canary.get("trafficRouting") and status.get("replicas", 0) > status.get(
            "updatedReplicas", 0
        ):
            return "Progressing", "old replicas are pending termination"
        if not stable or stable != current:
            return "Progressing", "waiting for all steps to complete"
    return "Healthy", ""
