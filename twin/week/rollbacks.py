"""The bad candidate in prod and the two ways back: the automatic rollback and ``git revert``.

The bad candidate is a real, gated model whose pods in ``trading-prod`` get injected errors
(``twin.cluster.chaos``, TEST-ONLY, keyed by the bundle's sha256): it passes dev and staging,
then prod's canary analysis fails, the Rollout aborts, the deploy workflow's exit handler sends
``repository_dispatch: rollback``, ``rollback.yml`` pushes the revert of the manifest to main,
and ``deploy.yml`` deploys it. The manual path is ``rollback.yml`` dispatched by a person: a
pull request with the revert, CI, merge, deploy.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from twin.cluster import chaos
from twin.errors import TwinError
from twin.week.cluster_view import rollout
from twin.week.context import RUN_TIMEOUT, Week
from twin.week.delivery import check_serving, deploy_run, manifest, promote, while_market_closed
from twin.week.training import ci_and_merge

# Half the bad model's signal requests fail: far past the canary's error-rate limit.
INJECTED = {"SERVING_INJECT_ERROR_RATE": "0.5"}


def _sha(doc: dict[str, Any]) -> str:
    return str(((doc.get("model") or {}).get("artifact") or {}).get("sha256", ""))


def bad_candidate_in_prod(week: Week) -> str:
    """Promote the bad candidate; its canary aborts; the automatic path restores the previous."""
    bad, previous = week.facts["models"][-1], week.facts["models"][-2]
    if _sha(manifest(week, "prod")) != previous["sha256"]:
        raise TwinError("prod does not serve the previous model before the bad candidate")
    chaos.inject_env(week.home, "trading-prod", bad["sha256"], INJECTED)
    promoted = while_market_closed(
        week, lambda: promote(week, "prod", "bad candidate: errors injected in prod (twin chaos)")
    )
    sha = str(week.facts["prod_pr_merge"])
    seen: dict[str, str] = {}

    def deploy_done() -> dict[str, Any] | None:
        status = rollout(week, "prod").get("status") or {}
        if status.get("abortedAt") and "aborted" not in seen:
            seen["aborted"] = str(status["abortedAt"])
            seen["message"] = str(status.get("message", ""))
        runs = week.gh.runs("deploy.yml", head_sha=sha)
        return runs[0] if runs and runs[0]["status"] == "completed" else None

    run = week.gh.wait_for(f"deploy.yml on {sha[:12]} (bad)", deploy_done, RUN_TIMEOUT)
    if run["conclusion"] == "success":
        raise TwinError(f"prod: the bad candidate's deploy run {run['id']} succeeded")
    if "aborted" not in seen:
        raise TwinError(f"prod: deploy run {run['id']} failed but the Rollout never aborted")
    rollbacks = week.gh.wait_for(
        "rollback.yml from repository_dispatch",
        lambda: [
            r
            for r in week.gh.runs("rollback.yml", event="repository_dispatch")
            if r["status"] == "completed"
        ],
        RUN_TIMEOUT,
    )
    week.run_ok(rollbacks[0], "rollback.yml (automatic)")
    head = week.git("rev-parse", "main")
    if _sha(manifest(week, "prod", head)) != previous["sha256"]:
        raise TwinError(f"prod manifest on main ({head[:12]}) is not back at the previous digest")
    week.run_ok(deploy_run(week, head), "deploy.yml of the automatic revert")
    detail = check_serving(week, "prod")
    aborted = datetime.fromisoformat(seen["aborted"].replace("Z", "+00:00")).timestamp()
    seconds = time.time() - aborted
    week.record.figures["rollback time (abort -> previous digest serving, manifest reverted)"] = (
        f"{seconds:.0f} s"
    )
    chaos.clear(week.home)
    return (
        f"{promoted}; aborted: {seen['message'][:90]}; rollback.yml run {rollbacks[0]['id']} "
        f"pushed {head[:12]}; {detail}; {seconds:.0f} s from abort"
    )


def _revert_pull_request(week: Week, version: str) -> str:
    """``rollback.yml`` dispatched by a person opens the revert pull request; CI, merge."""
    event = week.gh.dispatch_workflow(
        "rollback.yml",
        inputs={"environment": "prod", "to_version": version, "reason": "manual drill"},
    )
    (run,) = week.gh.wait_event(int(event["id"]), RUN_TIMEOUT)
    week.run_ok(run, "rollback.yml (manual)")
    pulls = week.gh.pulls(head=f"rollback/prod/{version}")
    if len(pulls) != 1:
        raise TwinError(f"rollback.yml opened {len(pulls)} pull requests, expected 1")
    week.facts["rollback_pr"] = int(pulls[0]["number"])
    return ci_and_merge(week, "rollback_pr", "rollback")


def manual_rollback(week: Week) -> str:
    """A person dispatches ``rollback.yml``: the revert pull request, CI, merge, deploy."""
    first = week.facts["models"][-3]
    merged = while_market_closed(week, lambda: _revert_pull_request(week, first["version"]))
    sha = str(week.facts["rollback_pr_merge"])
    if _sha(manifest(week, "prod", sha)) != first["sha256"]:
        raise TwinError(
            f"the merged rollback ({sha[:12]}) does not name version {first['version']}"
        )
    week.run_ok(deploy_run(week, sha), "deploy.yml of the manual rollback")
    return f"rollback PR: {merged}; " + check_serving(week, "prod")
