"""The fake Argo Server API (the subset ``pipelines deploy`` and the ``argo-workflows`` SDK use).

Routes (JSON as Argo's grpc-gateway writes it; errors ``{"code": N, "message": ...}`` with
gRPC codes 3 InvalidArgument, 5 NotFound, 6 AlreadyExists, 16 Unauthenticated):

- ``POST /api/v1/workflows/{ns}`` (``{"workflow": ...}``), ``GET /api/v1/workflows/{ns}``
  (``listOptions.labelSelector``), ``GET|DELETE /api/v1/workflows/{ns}/{name}``;
- ``POST /api/v1/workflows/{ns}/submit`` (``resourceKind`` WorkflowTemplate,
  ``resourceName``, ``submitOptions.parameters: ["k=v"]``, ``generateName``, ``labels``);
- ``PUT /api/v1/workflows/{ns}/{name}/stop|terminate`` (sets ``spec.shutdown``);
- ``GET|POST /api/v1/workflow-templates/{ns}``, ``GET /api/v1/workflow-templates/{ns}/{name}``;
- ``GET /api/v1/version``.

Every route needs ``Authorization: Bearer <token>`` (the cluster's token, in state.json).
New workflows are validated against the Argo schema (``../shared``) and their
``workflowTemplateRef`` must exist, as the Argo Server checks before creating.
"""

from __future__ import annotations

import copy
import secrets
import string
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.delivery.lint.schemas import validate_objects
from twin.cluster.interfaces import Obj, ObjectStore

STATUS = {3: 400, 5: 404, 6: 409, 16: 401}


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=STATUS.get(code, 500))


def _suffix() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))


class ArgoServerApi:
    """Routes over the object store (see module doc)."""

    def __init__(self, store: ObjectStore, token: str, shared: Path | None) -> None:
        self.store, self.token, self.shared = store, token, shared

    def routes(self) -> list[Route]:
        """Starlette routes of the API."""
        return [
            Route("/api/v1/version", self._guard(self.version), methods=["GET"]),
            Route("/api/v1/workflows/{ns}/submit", self._guard(self.submit), methods=["POST"]),
            Route("/api/v1/workflows/{ns}", self._guard(self.workflows), methods=["GET", "POST"]),
            Route(
                "/api/v1/workflows/{ns}/{name}",
                self._guard(self.workflow),
                methods=["GET", "DELETE"],
            ),
            Route(
                "/api/v1/workflows/{ns}/{name}/{action}",
                self._guard(self.shutdown),
                methods=["PUT"],
            ),
            Route(
                "/api/v1/workflow-templates/{ns}",
                self._guard(self.templates),
                methods=["GET", "POST"],
            ),
            Route(
                "/api/v1/workflow-templates/{ns}/{name}",
                self._guard(self.template),
                methods=["GET"],
            ),
        ]

    def _guard(self, handler: Any) -> Any:
        async def guarded(request: Request) -> JSONResponse:
            header = request.headers.get("authorization", "")
            if not secrets.compare_digest(header.encode(), f"Bearer {self.token}".encode()):
                return _error(
                    16, "token not valid (the twin's Argo Server wants 'Bearer <argo_token>')"
                )
            try:
                response: JSONResponse = await handler(request)
            except (ValueError, KeyError, TypeError) as exc:
                return _error(3, f"bad request: {exc}")
            return response

        return guarded

    async def version(self, request: Request) -> JSONResponse:
        """The Argo version the twin mimics."""
        return JSONResponse({"version": "v4.1.2", "platform": "twin"})

    async def workflows(self, request: Request) -> JSONResponse:
        """List (GET) or create (POST) workflows."""
        ns = request.path_params["ns"]
        if request.method == "GET":
            selector = request.query_params.get("listOptions.labelSelector", "")
            items = [_shaped(w) for w in self.store.list("Workflow", ns) if _selected(w, selector)]
            return JSONResponse({"metadata": {"resourceVersion": "0"}, "items": items})
        body = await request.json()
        workflow = body.get("workflow")
        if not isinstance(workflow, dict):
            return _error(3, "workflow is required")
        return self._create(ns, workflow, bool(body.get("serverDryRun")))

    def _create(self, ns: str, workflow: Obj, dry_run: bool = False) -> JSONResponse:
        workflow = copy.deepcopy(workflow)
        workflow.setdefault("apiVersion", "argoproj.io/v1alpha1")
        workflow.setdefault("kind", "Workflow")
        meta = workflow.setdefault("metadata", {})
        meta["namespace"] = ns
        if not meta.get("name"):
            if not meta.get("generateName"):
                return _error(3, "metadata.name or metadata.generateName is required")
            meta["name"] = f"{meta['generateName']}{_suffix()}"
        if self.store.get("Workflow", ns, meta["name"]) is not None:
            return _error(6, f'workflows.argoproj.io "{meta["name"]}" already exists')
        if self.shared is not None:
            findings = validate_objects(self.shared, "workflow", [workflow])
            if findings:
                return _error(3, f"{findings[0].where}: {findings[0].message}")
        ref = (workflow.get("spec") or {}).get("workflowTemplateRef")
        if ref and self.store.get("WorkflowTemplate", ns, str(ref.get("name"))) is None:
            return _error(5, f'workflowtemplates.argoproj.io "{ref.get("name")}" not found')
        if dry_run:
            return JSONResponse(_shaped(workflow))
        return JSONResponse(_shaped(self.store.apply(workflow)))

    async def submit(self, request: Request) -> JSONResponse:
        """Submit a Workflow from a WorkflowTemplate."""
        ns = request.path_params["ns"]
        body = await request.json()
        if body.get("resourceKind") not in ("WorkflowTemplate", "workflowtemplate"):
            return _error(
                3, f"resourceKind {body.get('resourceKind')!r}: the twin submits WorkflowTemplates"
            )
        name = str(body.get("resourceName", ""))
        if self.store.get("WorkflowTemplate", ns, name) is None:
            return _error(5, f'workflowtemplates.argoproj.io "{name}" not found')
        options = body.get("submitOptions") or {}
        parameters = []
        for pair in options.get("parameters") or []:
            key, sep, value = str(pair).partition("=")
            if not sep:
                return _error(3, f"parameter {pair!r}: expected name=value")
            parameters.append({"name": key, "value": value})
        labels = dict(
            p.split("=", 1) for p in str(options.get("labels") or "").split(",") if "=" in p
        )
        labels["workflows.argoproj.io/workflow-template"] = name
        meta: Obj = {"labels": labels}
        if options.get("name"):
            meta["name"] = options["name"]
        else:
            meta["generateName"] = options.get("generateName") or f"{name}-"
        spec: Obj = {"workflowTemplateRef": {"name": name}, "arguments": {"parameters": parameters}}
        if options.get("entryPoint"):
            spec["entrypoint"] = options["entryPoint"]
        return self._create(ns, {"metadata": meta, "spec": spec}, bool(options.get("serverDryRun")))

    async def workflow(self, request: Request) -> JSONResponse:
        """Get (GET) or delete (DELETE) one workflow."""
        ns, name = request.path_params["ns"], request.path_params["name"]
        found = self.store.get("Workflow", ns, name)
        if found is None:
            return _error(5, f'workflows.argoproj.io "{name}" not found')
        if request.method == "DELETE":
            self.store.delete("Workflow", ns, name)
            return JSONResponse({})
        return JSONResponse(_shaped(found))

    async def shutdown(self, request: Request) -> JSONResponse:
        """``stop`` or ``terminate`` a workflow (``spec.shutdown``)."""
        ns, name, action = (request.path_params[k] for k in ("ns", "name", "action"))
        strategy = {"stop": "Stop", "terminate": "Terminate"}.get(action)
        if strategy is None:
            return _error(3, f"action {action!r}: the twin serves stop and terminate")
        found = self.store.get("Workflow", ns, name)
        if found is None:
            return _error(5, f'workflows.argoproj.io "{name}" not found')
        found.setdefault("spec", {})["shutdown"] = strategy
        return JSONResponse(_shaped(self.store.apply(found)))

    async def templates(self, request: Request) -> JSONResponse:
        """List (GET) or create (POST) WorkflowTemplates."""
        ns = request.path_params["ns"]
        if request.method == "GET":
            return JSONResponse({"metadata": {}, "items": self.store.list("WorkflowTemplate", ns)})
        template = (await request.json()).get("template") or {}
        template.setdefault("apiVersion", "argoproj.io/v1alpha1")
        template["kind"] = "WorkflowTemplate"
        template.setdefault("metadata", {})["namespace"] = ns
        if self.shared is not None:
            findings = validate_objects(self.shared, "template", [template])
            if findings:
                return _error(3, f"{findings[0].where}: {findings[0].message}")
        return JSONResponse(self.store.apply(template))

    async def template(self, request: Request) -> JSONResponse:
        """One WorkflowTemplate."""
        ns, name = request.path_params["ns"], request.path_params["name"]
        found = self.store.get("WorkflowTemplate", ns, name)
        if found is None:
            return _error(5, f'workflowtemplates.argoproj.io "{name}" not found')
        return JSONResponse(found)


def _shaped(workflow: Obj) -> Obj:
    """A Workflow as Argo's server writes it: ``status`` is always there (Go never omits it)."""
    workflow.setdefault("status", {})
    return workflow


def _selected(obj: Obj, selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True
