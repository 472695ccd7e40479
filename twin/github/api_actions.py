"""REST: ``repository_dispatch``, workflow dispatch, workflows, runs, jobs, logs, artifacts.

Both dispatch routes answer 204 as GitHub does, with an ``X-Twin-Event-Id`` header naming the
event record (``GET /_twin/events/{id}`` lists the runs it started).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.routing import Route

from twin.github import events
from twin.github.events import WORKFLOWS_DIR, workflows_at
from twin.github.http import REPO, Call, need, page, route
from twin.github.pulls import ApiError
from twin.github.records import RunRecord
from twin.github.runner import workflow_id
from twin.github.service import GitHubTwin
from twin.github.triggers import dispatch_inputs

EVENT_HEADER = "X-Twin-Event-Id"


def repository_dispatch(twin: GitHubTwin, call: Call) -> tuple[int, None, dict[str, str]]:
    """``POST /dispatches``: ``event_type`` and ``client_payload`` on the default branch."""
    need(call.token, "contents", "write")
    event_type = call.body.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise ApiError(
            422, 'Invalid request.\n\nNo subschema in "anyOf" matched. event_type wasn\'t supplied.'
        )
    payload = call.body.get("client_payload") or {}
    if not isinstance(payload, dict):
        raise ApiError(422, "client_payload must be an object")
    full = {"action": event_type, "branch": twin.default_branch, "client_payload": payload}
    record = events.dispatched(
        twin, "repository_dispatch", call.token, action=event_type, payload=full
    )
    return 204, None, {EVENT_HEADER: str(record.id)}


def _workflow_path(twin: GitHubTwin, ident: str, sha: str) -> str:
    if ident.isdigit():
        for path in twin.repo.list_dir(sha, WORKFLOWS_DIR):
            if workflow_id(path) == int(ident):
                return path
        raise ApiError(404, "Not Found")
    path = ident if ident.startswith(WORKFLOWS_DIR) else f"{WORKFLOWS_DIR}/{ident}"
    if twin.repo.show(sha, path) is None:
        raise ApiError(404, "Not Found")
    return path


def workflow_dispatch(twin: GitHubTwin, call: Call) -> tuple[int, None, dict[str, str]]:
    """``POST /actions/workflows/{id}/dispatches``: ``ref`` and ``inputs`` (422 on bad inputs)."""
    need(call.token, "actions", "write")
    ref = call.body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise ApiError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
    try:
        full, sha = events.default_head(twin, ref)
    except LookupError as exc:
        raise ApiError(422, str(exc)) from None
    path = _workflow_path(twin, call.params["workflow"], sha)
    good, bad = workflows_at(twin, sha)
    workflow = next((w for w in good if w.path == path), None)
    if workflow is None:
        error = next((e for p, e in bad if p == path), "not found")
        raise ApiError(422, f"Invalid workflow file: {error}")
    if "workflow_dispatch" not in workflow.triggers:
        raise ApiError(422, "Workflow does not have 'workflow_dispatch' trigger")
    given = call.body.get("inputs") or {}
    try:
        inputs = dispatch_inputs(workflow, {str(k): v for k, v in given.items()})
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    payload = {
        "inputs": {k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in inputs.items()}
        or None,
        "ref": full,
        "workflow": path,
    }
    record = events.dispatched(
        twin,
        "workflow_dispatch",
        call.token,
        ref=full,
        workflow=path,
        inputs=inputs,
        payload=payload,
    )
    return 204, None, {EVENT_HEADER: str(record.id)}


def list_workflows(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/workflows`` (on the default branch)."""
    need(call.token, "actions", "read")
    _, sha = events.default_head(twin)
    good, _ = workflows_at(twin, sha)
    items = [
        {"id": workflow_id(w.path), "name": w.name, "path": w.path, "state": "active"} for w in good
    ]
    return {"total_count": len(items), "workflows": items}


def _runs(twin: GitHubTwin, call: Call, path: str | None = None) -> dict[str, Any]:
    need(call.token, "actions", "read")
    query = call.query
    with twin.store.lock:
        runs = sorted(twin.store.runs.values(), key=lambda r: r.id, reverse=True)
    selected = []
    for run in runs:
        if path and run.path != path:
            continue
        if query.get("event") and run.event != query["event"]:
            continue
        if query.get("head_sha") and run.head_sha != query["head_sha"]:
            continue
        if query.get("branch") and run.head_branch != query["branch"]:
            continue
        if query.get("actor") and run.actor != query["actor"]:
            continue
        status = query.get("status")
        if status and status not in (run.status, run.conclusion):
            continue
        selected.append(
            run.json(twin.api_url + "/repos/" + twin.repository_json()["full_name"], twin.git_url)
        )
    return {"total_count": len(selected), "workflow_runs": page(selected, query)}


def list_runs(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/runs``: filters event, status (or conclusion), branch, head_sha, actor."""
    return _runs(twin, call)


def list_workflow_runs(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/workflows/{id}/runs``."""
    _, sha = events.default_head(twin)
    return _runs(twin, call, _workflow_path(twin, call.params["workflow"], sha))


def _run(twin: GitHubTwin, call: Call) -> RunRecord:
    need(call.token, "actions", "read")
    run = twin.store.runs.get(call.int_param("run_id"))
    if run is None:
        raise ApiError(404, "Not Found")
    return run


def get_run(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/runs/{id}``."""
    return _run(twin, call).json(
        f"{twin.api_url}/repos/{twin.repository_json()['full_name']}", twin.git_url
    )


def run_jobs(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/runs/{id}/jobs``."""
    run = _run(twin, call)
    api = f"{twin.api_url}/repos/{twin.repository_json()['full_name']}"
    with twin.store.lock:
        jobs = [job.json(api, run.name) for job in run.jobs]
    return {"total_count": len(jobs), "jobs": jobs}


def cancel_run(twin: GitHubTwin, call: Call) -> tuple[int, dict[str, Any]]:
    """``POST /actions/runs/{id}/cancel``: 202, or 409 when it already finished."""
    run = _run(twin, call)
    need(call.token, "actions", "write")
    if not twin.runner.cancel(run.id):
        raise ApiError(409, "Cannot cancel a workflow run that is completed.")
    return 202, {}


def run_artifacts(twin: GitHubTwin, call: Call) -> dict[str, Any]:
    """``GET /actions/runs/{id}/artifacts``."""
    run = _run(twin, call)
    folder = twin.home / "artifacts" / str(run.id)
    items = []
    for meta in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        doc = json.loads(meta.read_text(encoding="utf-8"))
        items.append(
            {
                "id": doc["id"],
                "name": doc["name"],
                "digest": f"sha256:{doc['digest']}",
                "expired": False,
            }
        )
    return {"total_count": len(items), "artifacts": items}


def routes(twin: GitHubTwin) -> list[Route]:
    """The routes of this module."""
    return [
        route(twin, f"{REPO}/dispatches", ["POST"], repository_dispatch),
        route(twin, f"{REPO}/actions/workflows", ["GET"], list_workflows),
        route(
            twin, f"{REPO}/actions/workflows/{{workflow}}/dispatches", ["POST"], workflow_dispatch
        ),
        route(twin, f"{REPO}/actions/workflows/{{workflow}}/runs", ["GET"], list_workflow_runs),
        route(twin, f"{REPO}/actions/runs", ["GET"], list_runs),
        route(twin, f"{REPO}/actions/runs/{{run_id}}", ["GET"], get_run),
        route(twin, f"{REPO}/actions/runs/{{run_id}}/jobs", ["GET"], run_jobs),
        route(twin, f"{REPO}/actions/runs/{{run_id}}/cancel", ["POST"], cancel_run),
        route(twin, f"{REPO}/actions/runs/{{run_id}}/artifacts", ["GET"], run_artifacts),
    ]
