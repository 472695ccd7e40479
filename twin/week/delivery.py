"""Promotions and deploys of the week: pull requests, ``deploy.yml``, the Argo deploy template.

A promotion is ``promote.yml`` (staging, prod) or train.yml's dev job opening a pull request
with the App token; CI runs on it; the person merges; the merge's push starts ``deploy.yml``,
which submits the deploy WorkflowTemplate through the Argo Server API; the Rollout brings the
pods up from the rendered spec. A step passes when the pods of the environment serve exactly
what its manifest on main names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import yaml

from twin import state
from twin.errors import TwinError
from twin.procs import wait_until
from twin.week.cluster_view import rollout, serving
from twin.week.context import RUN_TIMEOUT, Week
from twin.week.training import ci_and_merge


def manifest(week: Week, env: str, rev: str = "main") -> dict[str, Any]:
    """``environments/<env>/model.yaml`` at ``rev`` of the origin."""
    doc: dict[str, Any] = yaml.safe_load(week.git("show", f"{rev}:environments/{env}/model.yaml"))
    return doc


def deploy_run(week: Week, sha: str) -> dict[str, Any]:
    """The ``deploy.yml`` run of the push of ``sha`` to main, once completed."""

    def done() -> dict[str, Any] | None:
        runs = week.gh.runs("deploy.yml", head_sha=sha)
        return runs[0] if runs and runs[0]["status"] == "completed" else None

    run: dict[str, Any] = week.gh.wait_for(f"deploy.yml on {sha[:12]}", done, RUN_TIMEOUT)
    return run


def check_serving(week: Week, env: str) -> str:
    """Every ready pod of ``env`` serves the model its manifest on main names; Healthy."""
    doc = manifest(week, env)
    model = doc.get("model") or {}
    want = model.get("artifact", {}).get("sha256")
    status = rollout(week, env).get("status") or {}
    if status.get("phase") != "Healthy":
        raise TwinError(f"{env}: Rollout is {status.get('phase')}: {status.get('message', '')}")
    # The stable ReplicaSet's pods (an old one may still be up for its scale-down delay).
    pods = serving(week, env, str(status.get("stableRS", "")))
    wrong = [p for p in pods if p.sha256 != want]
    if not pods or wrong:
        shown = ", ".join(f"{p.pod}@{p.ip}={p.sha256[:12]}" for p in (wrong or pods))
        raise TwinError(f"{env}: pods do not all serve {str(want)[:12]} ({shown or 'no pod'})")
    ips = ", ".join(p.ip for p in pods)
    return f"{len(pods)} pod(s) on {ips} serve {model.get('name')} {model.get('version')}"


def deploy_after_merge(week: Week, env: str, merge_key: str) -> str:
    """``deploy.yml`` of the merge pushed by the person, then the environment serves it."""
    sha = str(week.facts[merge_key])
    run = week.run_ok(deploy_run(week, sha), f"deploy.yml for {env}")
    return f"run {run['id']}: " + check_serving(week, env)


def promote(week: Week, env: str, reason: str) -> str:
    """``promote.yml`` to ``env``: its pull request opened by the App; CI; the person merges."""
    event = week.gh.dispatch_workflow("promote.yml", inputs={"environment": env, "reason": reason})
    (run,) = week.gh.wait_event(int(event["id"]), RUN_TIMEOUT)
    week.run_ok(run, f"promote.yml to {env}")
    pulls = week.gh.pulls(head=f"promote/{env}")
    if len(pulls) != 1:
        raise TwinError(f"promote.yml opened {len(pulls)} pull requests for {env}, expected 1")
    week.facts[f"{env}_pr"] = int(pulls[0]["number"])
    merged = ci_and_merge(week, f"{env}_pr", env)
    return f"promote.yml run {run['id']}; {merged}"


def start_feed(week: Week, env: str) -> str:
    """The market feed replays held-out bars to ``env``'s Service (through the mesh)."""
    url = state.service(week.home, "cluster")["url"]
    answer = httpx.post(f"{url}/feed/v1/trading-{env}/start", json={}, timeout=30)
    if answer.status_code >= 300:
        raise TwinError(f"feed for {env}: HTTP {answer.status_code} {answer.text[:200]}")
    return f"feed to trading-{env}: {answer.text[:120]}"


def while_market_closed(week: Week, run: Callable[[], str]) -> str:
    """Run ``run`` (a night, a training, a promotion PR) with the running market feeds paused.

    Nightly data (02:00 UTC) and training (Sunday 03:00 UTC) run while the market is closed, on
    runners that are not the cluster's nodes; promotion pull requests are git and CI only and
    are merged after the close. On the twin's one machine a live feed (40 signal requests a
    second through the mesh) would take a core from them. The feeds resume where they stopped.
    """
    url = state.service(week.home, "cluster")["url"]
    paused = [
        env
        for env in ("staging", "prod")
        if httpx.post(f"{url}/feed/v1/trading-{env}/pause", timeout=30).status_code == 200
    ]
    try:
        detail = run()
    finally:  # every paused feed resumes, and a failure of ``run`` is the one reported
        refused = [
            env
            for env in paused
            if httpx.post(f"{url}/feed/v1/trading-{env}/resume", timeout=30).status_code >= 300
        ]
    if refused:
        raise TwinError(f"feeds did not resume: {', '.join(refused)}")
    return f"{detail}; feeds paused meanwhile: {', '.join(paused)}" if paused else detail


def analysis_runs(week: Week, env: str) -> list[dict[str, Any]]:
    """The AnalysisRuns of ``env`` (newest last)."""
    from twin.week.cluster_view import objects

    runs = objects(week, "analysisrun", f"trading-{env}")
    return sorted(runs, key=lambda r: str(r["metadata"].get("creationTimestamp", "")))


def analyses_of_current(week: Week, env: str) -> list[dict[str, Any]]:
    """The AnalysisRuns of the Rollout's current pod template (its latest update)."""
    current = (rollout(week, env).get("status") or {}).get("currentPodHash")
    return [
        r
        for r in analysis_runs(week, env)
        if (r["metadata"].get("labels") or {}).get("rollouts-pod-template-hash") == current
    ]


def _phases(runs: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{r['metadata']['name']}={(r.get('status') or {}).get('phase')}" for r in runs
    )


class _ServingWatch:
    """Polls which model each ready pod serves, once a second, in a thread (for the delay)."""

    def __init__(self, week: Week, env: str) -> None:
        self.week, self.env = week, env
        self.last_seen: dict[str, float] = {}
        self.switched: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> _ServingWatch:
        """Start polling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling (the last poll ends first)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                stable = (rollout(self.week, self.env).get("status") or {}).get("stableRS")
                now = time.monotonic()
                for pod in serving(self.week, self.env):
                    self.last_seen[pod.sha256] = now
                    if pod.template_hash == stable:
                        self.switched.setdefault(pod.sha256, now)
            except (TwinError, httpx.HTTPError, KeyError, ValueError):
                pass  # a pod going away mid-read; the next poll sees the rest
            self._stop.wait(1.0)


def blue_green(week: Week, merge_key: str) -> str:
    """Staging: the preview is analysed on mirrored live bars, switched, the old kept a while.

    The old version's scale-down delay is checked beside the next steps (none of them touches
    staging): the watch goes on until the old pods are gone.
    """
    sha = str(week.facts[merge_key])
    old = str(manifest(week, "staging", f"{sha}^1")["model"]["artifact"]["sha256"])
    new = str(manifest(week, "staging", sha)["model"]["artifact"]["sha256"])
    delay = float(_settings(week, "staging")["scale_down_delay_seconds"])
    watch = _ServingWatch(week, "staging").start()
    try:
        detail = deploy_after_merge(week, "staging", merge_key)
        runs = analyses_of_current(week, "staging")
        bad = [r for r in runs if (r.get("status") or {}).get("phase") != "Successful"]
        if len(runs) < 2 or bad:
            raise TwinError(
                f"staging: pre/post-promotion analyses not all Successful: {_phases(runs)}"
            )
    except BaseException:
        watch.stop()
        raise
    week.record.beside(
        "the old version's scale-down delay", lambda: _old_kept(week, watch, old, new, delay)
    )
    return f"{detail}; analyses {_phases(runs)}"


def _old_kept(week: Week, watch: _ServingWatch, old: str, new: str, delay: float) -> str:
    """The old version served on for the scale-down delay after the switch, then went."""
    try:
        wait_until(
            "staging: the old version scaled down after the delay",
            lambda: not [p for p in serving(week, "staging") if p.sha256 == old],
            timeout=delay + 120,
        )
    finally:
        watch.stop()
    if new not in watch.switched or old not in watch.last_seen:
        raise TwinError(f"staging: the switch from {old[:12]} to {new[:12]} was not observed")
    kept = watch.last_seen[old] - watch.switched[new]
    if kept < delay - 2:
        raise TwinError(
            f"staging: the old version went {kept:.0f}s after the switch, delay {delay:.0f}s"
        )
    return f"old version kept {kept:.0f}s after the switch"


def canary(week: Week, merge_key: str) -> str:
    """Prod: 5 -> 25 -> 50 -> 100% by instrument, analysis each step; alias moved."""
    from mlflow.tracking import MlflowClient

    detail = deploy_after_merge(week, "prod", merge_key)
    runs = analyses_of_current(week, "prod")
    bad = [r for r in runs if (r.get("status") or {}).get("phase") != "Successful"]
    steps = len(_settings(week, "prod")["instrument_groups"])
    if len(runs) < steps or bad:
        raise TwinError(f"prod: canary analyses {_phases(runs)}; expected {steps} Successful")
    model = manifest(week, "prod")["model"]
    alias = MlflowClient(week.env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias(
        model["name"], "prod"
    )
    if str(alias.version) != str(model["version"]):
        raise TwinError(f"MLflow alias prod is {alias.version}, prod serves {model['version']}")
    return f"{detail}; {len(runs)} analyses Successful; MLflow alias prod -> {alias.version}"


def _settings(week: Week, env: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(week.git("show", f"main:environments/{env}/settings.yaml"))
    return doc
