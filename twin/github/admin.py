"""Twin-only routes (``/_twin/...``, no authentication, loopback only) for the e2e driver.

- ``GET /healthz``: ``{"ok": true}``.
- ``GET /_twin/config``, ``POST /_twin/config``: the repository settings
  (``twin.github.config``); POST replaces the given top-level keys.
- ``POST /_twin/tokens``: ``{kind: user|app, login, permissions?, admin?}`` -> ``{token, ...}``.
- ``POST /_twin/schedule``: ``{workflow?: "data.yml", cron?}`` fires ``schedule`` on the
  default branch; answers the event record.
- ``GET /_twin/events`` (``?pr=N``, ``?event=push``): every event, the runs it started and why
  the other workflows did not start; ``GET /_twin/events/{id}``: one of them.
- ``GET /_twin/runs/{id}``: a run with jobs, steps (log paths), annotations, approvals,
  outputs and summaries; ``GET /_twin/runs/{id}/log?job=<job id>&step=<number or name>``:
  step logs as text.
- ``GET /_twin/wait?run=<id>`` or ``?event=<id>`` (``&timeout=<s>``): blocks until the run
  (every run of the event) completed, 408 on timeout; ``?changed_since=<version>``: blocks
  until anything changed, answers ``{version, changed}``.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from twin.github import events
from twin.github.config import ConfigError
from twin.github.githttp import pre_receive_route
from twin.github.records import RunRecord
from twin.github.service import GitHubTwin

MAX_WAIT_SECONDS = 120.0


def run_detail(twin: GitHubTwin, run: RunRecord) -> dict[str, Any]:
    """A run as the e2e reads it: the API shape plus the twin's records."""
    with twin.store.lock:
        out = run.json(twin.api_url, twin.git_url)
        out["folder"] = str(twin.runs_dir / str(run.id))
        out["annotations"] = list(run.annotations)
        out["concurrency_group"] = run.concurrency_group
        out["jobs"] = []
        for job in run.jobs:
            doc = job.json(twin.api_url, run.name)
            doc.update(
                key=job.key,
                environment=job.environment,
                approvals=list(job.approvals),
                outputs=dict(job.outputs),
                annotations=list(job.annotations),
                summary=job.summary,
                steps=[{**s.json(), "outcome": s.outcome, "log": s.log} for s in job.steps],
            )
            out["jobs"].append(doc)
    return out


def _event_runs_done(twin: GitHubTwin, event_id: int) -> bool:
    record = twin.store.events.get(event_id)
    return record is not None and all(twin.store.runs[r].status == "completed" for r in record.runs)


def routes(twin: GitHubTwin) -> list[Route]:
    """Every admin route."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "url": twin.url})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            try:
                return JSONResponse(twin.configure(await request.json()))
            except ConfigError as exc:
                return JSONResponse({"message": str(exc)}, status_code=422)
        return JSONResponse(twin.config)

    async def tokens(request: Request) -> Response:
        doc = await request.json()
        kind = doc.get("kind", "user")
        if kind not in ("user", "app"):
            return JSONResponse({"message": "kind must be user or app"}, status_code=422)
        login = str(
            doc.get("login")
            or (twin.config["person"]["login"] if kind == "user" else "twin-app[bot]")
        )
        token = twin.tokens.mint(
            kind,
            login,
            dict(doc.get("permissions") or {}),
            admin=bool(doc.get("admin", False)),
        )
        return JSONResponse({"token": token.value, "login": token.login, "kind": token.kind})

    async def schedule(request: Request) -> Response:
        doc = await request.json() if (await request.body()).strip() else {}
        workflow = str(doc.get("workflow") or "")
        cron = str(doc.get("cron") or "")

        def fire() -> dict[str, Any]:
            wanted = (
                workflow
                if not workflow or workflow.startswith(".github/")
                else f".github/workflows/{workflow}"
            )
            fired = cron
            if wanted and not fired:
                good, _ = events.workflows_at(twin, events.default_head(twin)[1])
                crons = next(
                    (w.triggers.get("schedule", {}).get("crons") for w in good if w.path == wanted),
                    None,
                )
                fired = (crons or [""])[0]
            payload = {"schedule": fired}
            return events.dispatched(
                twin, "schedule", twin.person, cron=cron, workflow=wanted, payload=payload
            ).json()

        return JSONResponse(await run_in_threadpool(fire))

    async def list_events(request: Request) -> Response:
        pr, name = request.query_params.get("pr"), request.query_params.get("event")
        with twin.store.lock:
            items = [e.json() for e in twin.store.events.values()]
        items = [
            e
            for e in items
            if (not pr or str(e["pull_request"]) == pr) and (not name or e["event"] == name)
        ]
        return JSONResponse(items)

    async def one_event(request: Request) -> Response:
        record = twin.store.events.get(int(request.path_params["id"]))
        return (
            JSONResponse(record.json())
            if record
            else JSONResponse({"message": "Not Found"}, status_code=404)
        )

    async def one_run(request: Request) -> Response:
        run = twin.store.runs.get(int(request.path_params["id"]))
        return (
            JSONResponse(run_detail(twin, run))
            if run
            else JSONResponse({"message": "Not Found"}, status_code=404)
        )

    async def run_log(request: Request) -> Response:
        run = twin.store.runs.get(int(request.path_params["id"]))
        if run is None:
            return PlainTextResponse("Not Found", status_code=404)
        job_key, step = request.query_params.get("job"), request.query_params.get("step")
        chunks = []
        for job in run.jobs:
            if job_key and job.key != job_key:
                continue
            for record in job.steps:
                if step and step not in (str(record.number), record.name):
                    continue
                path = twin.runs_dir / str(run.id) / record.log if record.log else None
                if path and path.is_file():
                    chunks.append(
                        f"=== {job.key} / {record.number} {record.name}\n"
                        + path.read_text(encoding="utf-8")
                    )
        return PlainTextResponse("".join(chunks))

    async def wait(request: Request) -> Response:
        timeout = min(MAX_WAIT_SECONDS, float(request.query_params.get("timeout", "30")))
        run_id, event_id = request.query_params.get("run"), request.query_params.get("event")
        since = request.query_params.get("changed_since")
        if since is not None:
            seen = int(since)
            done = await run_in_threadpool(
                twin.store.wait, lambda: twin.store.version != seen, timeout
            )
            return JSONResponse({"version": twin.store.version, "changed": done})
        if run_id:
            rid = int(run_id)
            done = await run_in_threadpool(
                twin.store.wait,
                lambda: rid in twin.store.runs and twin.store.runs[rid].status == "completed",
                timeout,
            )
            body: Any = (
                run_detail(twin, twin.store.runs[rid])
                if rid in twin.store.runs
                else {"message": "Not Found"}
            )
        else:
            eid = int(event_id or 0)
            done = await run_in_threadpool(
                twin.store.wait, lambda: _event_runs_done(twin, eid), timeout
            )
            record = twin.store.events.get(eid)
            body = record.json() if record else {"message": "Not Found"}
        return JSONResponse(body, status_code=200 if done else 408)

    return [
        Route("/healthz", healthz),
        Route("/_twin/config", config, methods=["GET", "POST"]),
        Route("/_twin/tokens", tokens, methods=["POST"]),
        Route("/_twin/schedule", schedule, methods=["POST"]),
        Route("/_twin/events", list_events),
        Route("/_twin/events/{id:int}", one_event),
        Route("/_twin/runs/{id:int}", one_run),
        Route("/_twin/runs/{id:int}/log", run_log),
        Route("/_twin/wait", wait),
        pre_receive_route(twin),
    ]
