"""A small fake Argo Server API (the routes the ``argo-workflows`` SDK calls), on 127.0.0.1.

It knows WorkflowTemplates by name, creates a Workflow per submit (``generateName`` + a counter),
answers its phase from a per-environment script, and refuses a wrong bearer token like the real
server (401). The twin's full fake lives in ``twin/cluster``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from twin.procs import free_port, tcp_open, wait_until


@dataclass
class FakeArgo:
    """State of the fake: templates, submitted workflows, phase scripts per environment."""

    token: str = "tok"  # noqa: S105 - the fake's own test token
    templates: set[str] = field(default_factory=lambda: {"deploy"})
    phases: dict[str, list[str]] = field(default_factory=dict)
    submitted: list[dict[str, Any]] = field(default_factory=list)
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    async def submit(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return JSONResponse({"code": 16, "message": "token not valid"}, 401)
        body = await request.json()
        namespace = request.path_params["namespace"]
        if body.get("resourceKind") != "WorkflowTemplate":
            return JSONResponse({"code": 3, "message": "resourceKind must be given"}, 400)
        if body.get("resourceName") not in self.templates:
            message = f'workflowtemplates.argoproj.io "{body.get("resourceName")}" not found'
            return JSONResponse({"code": 5, "message": message}, 404)
        opts = body.get("submitOptions") or {}
        params = dict(p.split("=", 1) for p in opts.get("parameters") or [])
        labels = dict(x.split("=", 1) for x in (opts.get("labels") or "").split(",") if x)
        name = f"{opts.get('generateName', 'wf-')}{next(self._counter):05d}"
        workflow = {
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "workflowTemplateRef": {"name": body["resourceName"]},
                "arguments": {"parameters": [{"name": k, "value": v} for k, v in params.items()]},
            },
            "status": {},
        }
        self.submitted.append({"body": body, "parameters": params, "labels": labels})
        self.workflows[name] = {"workflow": workflow, "env": params.get("environment", "")}
        return JSONResponse(workflow)

    async def get(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return JSONResponse({"code": 16, "message": "token not valid"}, 401)
        found = self.workflows.get(request.path_params["name"])
        if found is None:
            return JSONResponse({"code": 5, "message": "workflow not found"}, 404)
        script = self.phases.get(found["env"]) or ["Succeeded"]
        phase = script.pop(0) if len(script) > 1 else script[0]
        return JSONResponse({**found["workflow"], "status": {"phase": phase}})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/workflows/{namespace}/submit", self.submit, methods=["POST"]),
                Route("/api/v1/workflows/{namespace}/{name}", self.get, methods=["GET"]),
            ]
        )


@contextmanager
def serve(fake: FakeArgo) -> Iterator[str]:
    """Run the fake under uvicorn in a thread on 127.0.0.1; yield its URL; stop it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until("fake Argo Server", tcp_open("127.0.0.1", port), timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
