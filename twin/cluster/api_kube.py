"""The fake Kubernetes API the kubectl shims talk to (``TWIN_KUBE_URL`` = ``<cluster>/kube``).

Not Kubernetes' REST API: the shims send their command line and the cluster runs it.

- ``POST /kube/v1/kubectl`` ``{"argv": [...], "stdin": "...", "files": {"path": "text"}}``
  -> ``{"code": N, "stdout": "...", "stderr": "..."}`` (see ``kubectl_cmd``);
- ``GET /kube/v1/rollouts/{ns}/{name}`` -> ``{"phase", "message"}`` as the Rollouts
  controller writes them in ``status`` (404 when there is no such Rollout);
- ``POST /kube/v1/rollouts/{ns}/{name}/{promote|abort|retry}`` (``{"full": true}`` for a
  full promotion): the fields the real plugin patches, which the controller reads:
  promote clears ``status.pauseConditions`` and sets ``spec.paused: false`` (``--full``:
  ``status.promoteFull: true``); abort sets ``status.abort: true``; retry sets it false.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from twin.cluster.interfaces import ObjectStore
from twin.cluster.kubectl_cmd import Kubectl


class KubeApi:
    """Routes for the shims (see module doc)."""

    def __init__(self, store: ObjectStore, shared: Path | None) -> None:
        self.store = store
        self.kubectl = Kubectl(store, shared)

    def routes(self) -> list[Route]:
        """Starlette routes of the API."""
        return [
            Route("/kube/v1/kubectl", self.run, methods=["POST"]),
            Route("/kube/v1/rollouts/{ns}/{name}", self.rollout, methods=["GET"]),
            Route("/kube/v1/rollouts/{ns}/{name}/{action}", self.rollout_action, methods=["POST"]),
        ]

    async def run(self, request: Request) -> JSONResponse:
        """Run one kubectl command line."""
        body = await request.json()
        argv = [str(a) for a in body.get("argv") or []]
        files = {str(k): str(v) for k, v in (body.get("files") or {}).items()}
        result = self.kubectl.run(argv, body.get("stdin"), files)
        return JSONResponse(
            {"code": result.code, "stdout": "\n".join(result.out), "stderr": "\n".join(result.err)}
        )

    async def rollout(self, request: Request) -> JSONResponse:
        """A Rollout's status as ``kubectl argo rollouts status`` reads it."""
        ns, name = request.path_params["ns"], request.path_params["name"]
        found = self.store.get("Rollout", ns, name)
        if found is None:
            return JSONResponse(
                {"message": f'rollouts.argoproj.io "{name}" not found'}, status_code=404
            )
        status = found.get("status") or {}
        return JSONResponse(
            {"phase": status.get("phase", "Progressing"), "message": status.get("message", "")}
        )

    async def rollout_action(self, request: Request) -> JSONResponse:
        """Promote / abort / retry, by the fields the real plugin patches."""
        ns, name, action = (request.path_params[k] for k in ("ns", "name", "action"))
        found = self.store.get("Rollout", ns, name)
        if found is None:
            return JSONResponse(
                {"message": f'rollouts.argoproj.io "{name}" not found'}, status_code=404
            )
        body = await request.json() if await request.body() else {}
        status = dict(found.get("status") or {})
        if action == "promote":
            if body.get("full"):
                status["promoteFull"] = True
            else:
                status.pop("pauseConditions", None)
                status["controllerPause"] = False
                if (found.get("spec") or {}).get("paused"):
                    found["spec"]["paused"] = False
                    self.store.apply(found)
        elif action in ("abort", "retry"):
            status["abort"] = action == "abort"
        else:
            return JSONResponse({"message": f"unknown action {action!r}"}, status_code=400)
        self.store.update_status("Rollout", ns, name, status)
        word = {"promote": "promoted", "abort": "aborted", "retry": "retried"}[action]
        return JSONResponse({"message": f"rollout '{name}' {word}"})
