"""Blue/green in the twin's Rollout controller (argo-rollouts ``rollout/bluegreen.go``).

The new ReplicaSet is scaled up behind the preview Service (``previewReplicaCount`` or
``replicas``). Once it is saturated, the pre-promotion analysis runs; when it succeeds the
active Service is switched to it, at once with ``autoPromotionEnabled`` (default), else after a
``BlueGreenPause`` that a promote ends. The post-promotion analysis then runs against the new
active version; when it succeeds the new ReplicaSet becomes stable and the older ones are
scaled down ``scaleDownDelaySeconds`` (default 30) later. Inconclusive pauses
(``InconclusiveAnalysis``; a promote re-runs that analysis, as Argo does); Failed or Error
aborts with ``Blue/green pre|post-promotion analysis phase error/failed: <run message>``: the
active Service goes back to the stable ReplicaSet and the new one is scaled down after
``abortScaleDownDelaySeconds``. The first deploy switches at once. Not modelled:
``autoPromotionSeconds``, ``previewMetadata``/``activeMetadata``, anti-affinity.
"""

from __future__ import annotations

from typing import Any

from twin.cluster import rollouts_analysis as analysis
from twin.cluster.analysis_rules import from_time, to_time
from twin.cluster.interfaces import Obj
from twin.cluster.rollouts_replicasets import SCALE_DOWN_DEADLINE, hash_of, pin_service, scale
from twin.cluster.rollouts_status import Context

DEFAULT_SCALE_DOWN_DELAY = 30
DEFAULT_ABORT_SCALE_DOWN_DELAY = 30


def _bg(ctx: Context) -> Obj:
    return dict((ctx.spec.get("strategy") or {}).get("blueGreen") or {})


def _services(ctx: Context, active: str, preview: str) -> None:
    bg = _bg(ctx)
    status: dict[str, Any] = ctx.status.setdefault("blueGreen", {})
    if bg.get("activeService") and active:
        pin_service(ctx.store, ctx.namespace, str(bg["activeService"]), active, ctx.name)
        status["activeSelector"] = active
    if bg.get("previewService") and preview:
        pin_service(ctx.store, ctx.namespace, str(bg["previewService"]), preview, ctx.name)
        status["previewSelector"] = preview


def _analysis(ctx: Context, kind: str, promoted: bool) -> str | None:
    """Create or observe the pre/post-promotion run; its phase (None: no such analysis)."""
    bg = _bg(ctx)
    spec = bg.get("prePromotionAnalysis" if kind == "pre" else "postPromotionAnalysis")
    if not spec or not spec.get("templates"):
        return None
    key = "prePromotionAnalysisRunStatus" if kind == "pre" else "postPromotionAnalysisRunStatus"
    status: dict[str, Any] = ctx.status.setdefault("blueGreen", {})
    current = status.get(key) or {}
    run = ctx.store.get("AnalysisRun", ctx.namespace, current.get("name", "")) if current else None
    labels = ((run or {}).get("metadata") or {}).get("labels") or {}
    rerun = promoted and (current.get("status") == "Inconclusive")
    if run is None or labels.get(analysis.HASH_LABEL) != ctx.new_hash or rerun:
        if ctx.pause_reasons() and not rerun:
            return current.get("status")
        try:
            run = analysis.create_run(
                ctx.store, ctx.rollout, spec, (ctx.new_hash, ctx.stable_hash), ctx.revision, kind
            )
        except analysis.AnalysisSpecError as exc:
            ctx.set_condition("InvalidSpec", "True", "InvalidSpec", str(exc))
            return None
    found = analysis.run_status(ctx.store, ctx.namespace, run["metadata"]["name"]) or {}
    status[key] = found
    phase = found.get("status")
    if phase == "Inconclusive":
        ctx.add_pause("InconclusiveAnalysis")
    elif phase in ("Failed", "Error"):
        message = f"Blue/green {kind}-promotion analysis phase error/failed"
        if found.get("message"):
            message += f": {found['message']}"
        ctx.abort(message)
    return str(phase) if phase else None


def _scale_down_old(ctx: Context, keep: set[str]) -> None:
    delay = float(_bg(ctx).get("scaleDownDelaySeconds", DEFAULT_SCALE_DOWN_DELAY))
    for rs in ctx.all_rs:
        if hash_of(rs) in keep or int(rs["spec"].get("replicas") or 0) == 0:
            continue
        notes = rs["metadata"].get("annotations") or {}
        if SCALE_DOWN_DEADLINE not in notes:
            scale(ctx.store, rs, int(rs["spec"]["replicas"]), to_time(ctx.now + delay))
            ctx.wake_at(ctx.now + delay)
        elif ctx.now >= from_time(notes[SCALE_DOWN_DEADLINE]):
            scale(ctx.store, rs, 0)
        else:
            ctx.wake_at(from_time(notes[SCALE_DOWN_DEADLINE]))


def _abort(ctx: Context) -> None:
    """Active back to stable; the new ReplicaSet down after the abort delay."""
    bg = _bg(ctx)
    _services(ctx, ctx.stable_hash, ctx.new_hash)
    for key in ("prePromotionAnalysisRunStatus", "postPromotionAnalysisRunStatus"):
        analysis.cancel(
            ctx.store, ctx.namespace, (ctx.status["blueGreen"].get(key) or {}).get("name")
        )
    stable = next((r for r in ctx.all_rs if hash_of(r) == ctx.stable_hash), None)
    if stable is not None:
        scale(ctx.store, stable, ctx.replicas)
    if ctx.new_rs is not None:
        delay = float(bg.get("abortScaleDownDelaySeconds", DEFAULT_ABORT_SCALE_DOWN_DELAY))
        aborted_at = from_time(str(ctx.status.get("abortedAt") or to_time(ctx.now)))
        if ctx.now < aborted_at + delay:
            ctx.wake_at(aborted_at + delay)
            current = int(ctx.new_rs["spec"].get("replicas") or 0)
            ctx.new_rs = scale(ctx.store, ctx.new_rs, current, to_time(aborted_at + delay))
        else:
            ctx.new_rs = scale(ctx.store, ctx.new_rs, 0)


def reconcile(ctx: Context, promoted: bool) -> None:
    """One blue/green reconcile (see module doc)."""
    bg = _bg(ctx)
    status: dict[str, Any] = ctx.status.setdefault("blueGreen", {})
    new = ctx.new_hash
    if not ctx.stable_hash or not status.get("activeSelector"):  # first deploy
        ctx.status["stableRS"] = new
    if ctx.aborted and new != ctx.stable_hash:
        _abort(ctx)
        return
    if new == ctx.stable_hash:
        if ctx.new_rs is not None:
            ctx.new_rs = scale(ctx.store, ctx.new_rs, ctx.replicas)
        _services(ctx, new, new)
        _scale_down_old(ctx, {new})
        return
    want = int(bg.get("previewReplicaCount", ctx.replicas))
    if status.get("activeSelector") == new:
        want = ctx.replicas
    assert ctx.new_rs is not None  # noqa: S101 - a hash always has its ReplicaSet
    ctx.new_rs = scale(ctx.store, ctx.new_rs, want)
    stable = next((r for r in ctx.all_rs if hash_of(r) == ctx.stable_hash), None)
    if stable is not None:
        scale(ctx.store, stable, ctx.replicas)
    saturated = ctx.podset.available(ctx.new_rs) >= want
    if status.get("activeSelector") != new:
        _services(ctx, ctx.stable_hash, new)
        if not saturated:
            return
        full = bool(ctx.status.get("promoteFull"))
        phase = None if full else _analysis(ctx, "pre", promoted)
        if phase not in (None, "Successful") or ctx.aborted:
            if ctx.aborted:
                _abort(ctx)
            return
        auto = bg.get("autoPromotionEnabled", True)
        if not auto and not full and not promoted:
            ctx.add_pause("BlueGreenPause")
            return
        ctx.remove_pause("BlueGreenPause")
        _services(ctx, new, new)
        ctx.wake_at(ctx.now)
        return
    phase = None if ctx.status.get("promoteFull") else _analysis(ctx, "post", promoted)
    if ctx.aborted:
        _abort(ctx)
        return
    if phase in (None, "Successful"):
        ctx.status["stableRS"] = new
        ctx.status["promoteFull"] = False
        ctx.clear_pauses()
        _scale_down_old(ctx, {new})
        ctx.wake_at(ctx.now)
