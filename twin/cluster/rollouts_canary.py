"""The canary strategy of the twin's Rollout controller (argo-rollouts ``rollout/canary.go``).

Per reconcile, in Argo's order: pin the stable and canary Services; reconcile traffic routing
(weights, the managed header and mirror routes, all removed while the canary has no available
pod, on abort and on full promotion); reconcile the step's AnalysisRun (Inconclusive pauses,
Failed or Error aborts with ``Step-based analysis phase error/failed: <run message>``); scale
the ReplicaSets (stable at ``replicas``, the canary at the ``setCanaryScale`` in force or the
weight, older ReplicaSets down after ``scaleDownDelaySeconds``, an aborted canary after
``abortScaleDownDelaySeconds``); then the pause step and the step's completion, one step per
reconcile (``completedCurrentCanaryStep``); the last step done and the canary available, it
becomes stable (``promoteStable``).

Not modelled: ``dynamicStableScale``, experiments, step plugins; without traffic routing the pods
are replaced all at once (``maxSurge`` 100%; dev runs one replica).
"""

from __future__ import annotations

import math
from typing import Any

from twin.cluster import rollouts_analysis as analysis
from twin.cluster import rollouts_routing as routing
from twin.cluster.analysis_rules import duration_seconds, from_time, to_time
from twin.cluster.interfaces import Obj
from twin.cluster.rollouts_replicasets import (
    SCALE_DOWN_DEADLINE,
    hash_of,
    pin_service,
    scale,
)
from twin.cluster.rollouts_status import Context

DEFAULT_SCALE_DOWN_DELAY = 30
DEFAULT_ABORT_SCALE_DOWN_DELAY = 30


def _canary(ctx: Context) -> Obj:
    return dict((ctx.spec.get("strategy") or {}).get("canary") or {})


def current_step(ctx: Context) -> tuple[Obj | None, int | None]:
    """The step at ``currentStepIndex`` (None past the last step or without steps)."""
    steps = _canary(ctx).get("steps") or []
    index = ctx.status.get("currentStepIndex")
    if not steps or index is None:
        return None, None
    return (steps[index] if index < len(steps) else None), int(index)


def _weight_before(steps: list[Obj], index: int) -> int:
    return next((int(s["setWeight"]) for s in reversed(steps[: index + 1]) if "setWeight" in s), 0)


def desired_canary_replicas(ctx: Context) -> int:
    """Replicas of the new ReplicaSet (``CalculateReplicaCountsForTrafficRoutedCanary``)."""
    steps = _canary(ctx).get("steps") or []
    index = ctx.status.get("currentStepIndex")
    fully = ctx.status.get("stableRS") == ctx.new_hash
    if fully or ctx.status.get("promoteFull") or not steps or index is None or index >= len(steps):
        return ctx.replicas
    for step in reversed(steps[: index + 1]):
        scs = step.get("setCanaryScale")
        if scs is None:
            continue
        if scs.get("matchTrafficWeight"):
            break
        if "replicas" in scs:
            return int(scs["replicas"])
        if "weight" in scs:
            return math.ceil(ctx.replicas * int(scs["weight"]) / 100)
    return math.ceil(ctx.replicas * _weight_before(steps, index) / 100)


def _desired_weight(ctx: Context) -> int:
    steps = _canary(ctx).get("steps") or []
    index = ctx.status.get("currentStepIndex")
    if ctx.aborted or ctx.status.get("stableRS") == ctx.new_hash:
        return 0
    if ctx.podset.available(ctx.new_rs) == 0:
        return 0
    if index is None or index >= len(steps):
        return 100
    return _weight_before(steps, index)


def reconcile_services(ctx: Context) -> None:
    """Stable Service on the stable ReplicaSet; canary on the new one (stable once aborted)."""
    canary = _canary(ctx)
    stable, canary_svc = canary.get("stableService"), canary.get("canaryService")
    if stable and ctx.stable_hash:
        pin_service(ctx.store, ctx.namespace, str(stable), ctx.stable_hash, ctx.name)
    if canary_svc:
        target = ctx.stable_hash if ctx.aborted or not ctx.new_hash else ctx.new_hash
        if target:
            pin_service(ctx.store, ctx.namespace, str(canary_svc), target, ctx.name)


def reconcile_traffic(ctx: Context) -> None:
    """Weights and managed routes of the VirtualService (``reconcileTrafficRouting``)."""
    if not _canary(ctx).get("trafficRouting"):
        return
    weight = _desired_weight(ctx)
    fully = ctx.status.get("stableRS") == ctx.new_hash
    if fully or ctx.aborted or ctx.podset.available(ctx.new_rs) == 0:
        routing.remove_managed_routes(ctx.store, ctx.rollout)
    else:
        step, _ = current_step(ctx)
        if step is not None and ctx.revision > 1:
            if "setHeaderRoute" in step:
                routing.set_header_route(ctx.store, ctx.rollout, step["setHeaderRoute"])
            if "setMirrorRoute" in step:
                routing.set_mirror_route(ctx.store, ctx.rollout, step["setMirrorRoute"])
    routing.set_weight(ctx.store, ctx.rollout, weight)
    canary = _canary(ctx)
    ctx.status.setdefault("canary", {})["weights"] = {
        "canary": {
            "weight": weight,
            "podTemplateHash": ctx.new_hash,
            "serviceName": canary.get("canaryService", ""),
        },
        "stable": {
            "weight": 100 - weight,
            "podTemplateHash": ctx.stable_hash,
            "serviceName": canary.get("stableService", ""),
        },
    }


def reconcile_step_analysis(ctx: Context, promoted: bool) -> None:
    """Create or observe the current analysis step's run (``reconcileStepBasedAnalysisRun``)."""
    status_canary: dict[str, Any] = ctx.status.setdefault("canary", {})
    current = status_canary.get("currentStepAnalysisRunStatus") or {}
    step, index = current_step(ctx)
    if ctx.aborted or ctx.status.get("stableRS") == ctx.new_hash or not ctx.stable_hash:
        analysis.cancel(ctx.store, ctx.namespace, current.get("name"))
        return
    if step is None or "analysis" not in step:
        analysis.cancel(ctx.store, ctx.namespace, current.get("name"))
        status_canary.pop("currentStepAnalysisRunStatus", None)
        return
    run = ctx.store.get("AnalysisRun", ctx.namespace, current.get("name", "")) if current else None
    labels = ((run or {}).get("metadata") or {}).get("labels") or {}
    if run is None or labels.get(analysis.STEP_LABEL) != str(index):
        if ctx.pause_reasons():
            return
        try:
            run = analysis.create_run(
                ctx.store,
                ctx.rollout,
                step["analysis"],
                (ctx.new_hash, ctx.stable_hash),
                ctx.revision,
                "step",
                index,
            )
        except analysis.AnalysisSpecError as exc:
            ctx.set_condition("InvalidSpec", "True", "InvalidSpec", str(exc))
            return
    found = analysis.run_status(ctx.store, ctx.namespace, run["metadata"]["name"])
    status_canary["currentStepAnalysisRunStatus"] = found
    phase = (found or {}).get("status")
    if phase == "Inconclusive":
        if promoted:  # `kubectl argo rollouts promote` skips an inconclusive analysis step
            ctx.status["currentStepIndex"] = int(index or 0) + 1
            status_canary.pop("currentStepAnalysisRunStatus", None)
            ctx.clear_pauses()
        else:
            ctx.add_pause("InconclusiveAnalysis")
    elif phase in ("Failed", "Error"):
        message = "Step-based analysis phase error/failed"
        if (found or {}).get("message"):
            message += f": {found['message']}"  # type: ignore[index]
        ctx.abort(message)


def reconcile_replicasets(ctx: Context) -> None:
    """Scale the stable, new and older ReplicaSets (and set scale-down deadlines)."""
    canary = _canary(ctx)
    routed = bool(canary.get("trafficRouting"))
    if ctx.new_rs is not None:
        want = desired_canary_replicas(ctx)
        deadline = None
        if ctx.aborted and ctx.new_hash != ctx.stable_hash:
            delay = float(canary.get("abortScaleDownDelaySeconds", DEFAULT_ABORT_SCALE_DOWN_DELAY))
            aborted_at = from_time(str(ctx.status.get("abortedAt") or to_time(ctx.now)))
            if delay > 0 and ctx.now < aborted_at + delay:
                want = int(ctx.new_rs["spec"].get("replicas") or 0)
                deadline = to_time(aborted_at + delay)
                ctx.wake_at(aborted_at + delay)
            else:
                want = 0
        ctx.new_rs = scale(ctx.store, ctx.new_rs, want, deadline)
    fully = bool(ctx.stable_hash) and ctx.stable_hash == ctx.new_hash
    for rs in ctx.all_rs:
        pod_hash = hash_of(rs)
        if pod_hash == ctx.new_hash:
            continue
        if pod_hash == ctx.stable_hash:
            want = (
                ctx.replicas if routed else max(0, ctx.replicas - ctx.podset.available(ctx.new_rs))
            )
            scale(ctx.store, rs, want)
            continue
        notes = rs["metadata"].get("annotations") or {}
        replicas = int(rs["spec"].get("replicas") or 0)
        if replicas == 0:
            continue
        if not routed:
            scale(ctx.store, rs, max(0, replicas - ctx.podset.available(ctx.new_rs)))
        elif SCALE_DOWN_DEADLINE in notes:
            when = from_time(notes[SCALE_DOWN_DEADLINE])
            if ctx.now >= when:
                scale(ctx.store, rs, 0)
            else:
                ctx.wake_at(when)
        elif fully:
            delay = float(canary.get("scaleDownDelaySeconds", DEFAULT_SCALE_DOWN_DELAY))
            scale(ctx.store, rs, replicas, to_time(ctx.now + delay))
            ctx.wake_at(ctx.now + delay)
        else:  # an intermediate canary replaced by a newer one
            scale(ctx.store, rs, 0)


def _at_desired(ctx: Context) -> bool:
    want = desired_canary_replicas(ctx)
    if ctx.podset.available(ctx.new_rs) < want:
        return False
    stable = next((r for r in ctx.all_rs if hash_of(r) == ctx.stable_hash), None)
    return stable is None or ctx.podset.available(stable) >= ctx.replicas or not ctx.stable_hash


def advance(ctx: Context, promoted: bool) -> None:
    """Pause and step completion (``reconcileCanaryPause``, ``syncRolloutStatusCanary``)."""
    steps = _canary(ctx).get("steps") or []
    step, index = current_step(ctx)
    if step is None or index is None or ctx.aborted or ctx.spec.get("paused"):
        return
    done = False
    if "pause" in step:
        started = ctx.pause_started("CanaryPauseStep")
        duration = step["pause"].get("duration")
        if promoted:
            done = True
        elif started is None:
            ctx.add_pause("CanaryPauseStep")
            started = ctx.now
        if duration is not None and not done and started is not None:
            end = started + duration_seconds(str(duration))
            done = ctx.now >= end
            if not done:
                ctx.wake_at(end)
    elif "setCanaryScale" in step or "setWeight" in step:
        done = _at_desired(ctx)
    elif "setHeaderRoute" in step or "setMirrorRoute" in step:
        done = True
    elif "analysis" in step:
        found = (ctx.status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}
        done = found.get("status") == "Successful"
    if done:
        ctx.remove_pause("CanaryPauseStep")
        ctx.status["currentStepIndex"] = min(index + 1, len(steps))
        ctx.status.get("canary", {}).pop("currentStepAnalysisRunStatus", None)
        ctx.wake_at(ctx.now)


def promote_if_done(ctx: Context) -> None:
    """Make the canary stable once every step is done and it is fully available."""
    steps = _canary(ctx).get("steps") or []
    index = ctx.status.get("currentStepIndex")
    if ctx.aborted or ctx.stable_hash == ctx.new_hash:
        return
    if steps and index is not None and index < len(steps) and not ctx.status.get("promoteFull"):
        return
    if ctx.podset.available(ctx.new_rs) < ctx.replicas:
        return
    ctx.status["stableRS"] = ctx.new_hash
    ctx.status["promoteFull"] = False
    ctx.clear_pauses()
    ctx.status["currentStepIndex"] = len(steps) if steps else None
    ctx.wake_at(ctx.now)


def reconcile(ctx: Context, promoted: bool) -> None:
    """One canary reconcile (see module doc)."""
    steps = _canary(ctx).get("steps") or []
    if ctx.status.get("promoteFull") and steps:
        ctx.status["currentStepIndex"] = len(steps)
        ctx.clear_pauses()
    if not ctx.stable_hash:  # initial deploy: no steps, no analysis
        ctx.status["stableRS"] = ctx.new_hash
        ctx.status["currentStepIndex"] = len(steps) if steps else None
    reconcile_services(ctx)
    reconcile_traffic(ctx)
    reconcile_step_analysis(ctx, promoted)
    reconcile_replicasets(ctx)
    if ctx.aborted:
        ctx.status["currentStepIndex"] = 0 if steps else None
        if ctx.stable_hash == ctx.new_hash and steps:
            ctx.status["currentStepIndex"] = len(steps)
        return
    advance(ctx, promoted)
    promote_if_done(ctx)
