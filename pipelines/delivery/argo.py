"""The Argo Server API through the ``argo-workflows`` SDK: submit a WorkflowTemplate, read a phase.

Connection settings follow the ``argo`` CLI: ``ARGO_SERVER`` (``host:port`` means HTTPS, plain
HTTP with ``ARGO_SECURE=false``, or a full ``http(s)://`` URL), ``ARGO_TOKEN`` (with or without
its ``Bearer`` prefix), ``ARGO_NAMESPACE`` and ``ARGO_INSECURE_SKIP_VERIFY``. On EKS the token
can instead come from ``aws eks get-token`` for the runner's assumed role (the Argo Server runs
in ``client`` auth mode, so it acts with that role's Kubernetes permissions). Responses are read
as JSON rather than through the SDK's generated models, which reject fields newer servers add.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any

from pipelines.errors import PipelineError


class ArgoError(PipelineError):
    """The Argo Server could not be reached or refused a request."""


@dataclass(frozen=True)
class ArgoServer:
    """Where the Argo Server API is and how to authenticate to it."""

    url: str
    token: str | None = None
    namespace: str = "argo"
    verify_tls: bool = True


def server_url(value: str, secure: bool = True) -> str:
    """A full URL from ``ARGO_SERVER``'s forms (``host:port`` is HTTPS unless not ``secure``).

    As in the CLI, ``ARGO_SECURE=false`` makes a bare ``host:port`` plain HTTP.
    """
    text = value.strip().rstrip("/")
    return text if "://" in text else f"{'https' if secure else 'http'}://{text}"


def eks_token(cluster: str) -> str:
    """A Kubernetes bearer token for ``cluster`` from the AWS CLI (the OIDC-assumed role).

    Raises:
        ArgoError: The AWS CLI is missing or fails.
    """
    try:
        proc = subprocess.run(  # noqa: S603 - fixed executable, arguments are not shell-parsed
            ["aws", "eks", "get-token", "--cluster-name", cluster, "--output", "json"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ArgoError(f"aws eks get-token --cluster-name {cluster}: {exc}") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise ArgoError(f"aws eks get-token --cluster-name {cluster}: {lines[-1]}")
    try:
        return str(json.loads(proc.stdout)["status"]["token"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise ArgoError(f"aws eks get-token --cluster-name {cluster}: no status.token") from None


def server_from(
    url: str | None,
    token: str | None,
    namespace: str | None,
    eks_cluster: str | None = None,
    environ: dict[str, str] | None = None,
) -> ArgoServer:
    """Connection settings from flags, falling back to the ``ARGO_*`` environment variables.

    Raises:
        ArgoError: No server URL.
    """
    env = os.environ if environ is None else environ
    address = url or env.get("ARGO_SERVER")
    if not address:
        raise ArgoError("no Argo Server: give --argo-server or set ARGO_SERVER")
    secret = token or env.get("ARGO_TOKEN") or (eks_token(eks_cluster) if eks_cluster else None)
    if secret and secret.lower().startswith("bearer "):
        secret = secret[len("bearer ") :]
    insecure = env.get("ARGO_INSECURE_SKIP_VERIFY", "").lower() in ("1", "true", "yes")
    secure = env.get("ARGO_SECURE", "true").strip().lower() not in ("false", "0", "no")
    return ArgoServer(
        server_url(address, secure),
        secret or None,
        namespace or env.get("ARGO_NAMESPACE") or "argo",
        verify_tls=not insecure,
    )


class ArgoClient:
    """Workflows of one namespace on one Argo Server."""

    def __init__(self, server: ArgoServer, timeout_seconds: float = 30.0) -> None:
        from argo_workflows.api.workflow_service_api import WorkflowServiceApi
        from argo_workflows.api_client import ApiClient
        from argo_workflows.configuration import Configuration

        config = Configuration(host=server.url)
        config.verify_ssl = server.verify_tls
        if server.token:
            config.api_key["BearerToken"] = server.token
            config.api_key_prefix["BearerToken"] = "Bearer"
        self.server = server
        self.timeout = timeout_seconds
        self.api = WorkflowServiceApi(ApiClient(config))

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from argo_workflows.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            response = method(
                *args, _preload_content=False, _request_timeout=self.timeout, **kwargs
            )
        except ApiException as exc:
            body = exc.body
            detail = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            detail = detail or exc.reason or ""
            message = _message(detail)
            raise ArgoError(
                f"Argo Server {self.server.url}: {what}: HTTP {exc.status} {message}"
            ) from None
        except HTTPError as exc:
            raise ArgoError(f"Argo Server {self.server.url}: {what}: {exc}") from None
        try:
            payload: dict[str, Any] = json.loads(response.data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ArgoError(f"Argo Server {self.server.url}: {what}: not JSON") from None
        return payload

    def submit(self, template: str, parameters: dict[str, str], labels: dict[str, str]) -> str:
        """Submit a Workflow from the WorkflowTemplate ``template``; return the Workflow's name."""
        from argo_workflows.model.io_argoproj_workflow_v1alpha1_submit_opts import (
            IoArgoprojWorkflowV1alpha1SubmitOpts,
        )
        from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_submit_request import (
            IoArgoprojWorkflowV1alpha1WorkflowSubmitRequest,
        )

        env = parameters.get("environment", "")
        request = IoArgoprojWorkflowV1alpha1WorkflowSubmitRequest(
            namespace=self.server.namespace,
            resource_kind="WorkflowTemplate",
            resource_name=template,
            submit_options=IoArgoprojWorkflowV1alpha1SubmitOpts(
                generate_name=f"{template}-{env}-" if env else f"{template}-",
                labels=",".join(f"{k}={v}" for k, v in sorted(labels.items())),
                parameters=[f"{k}={v}" for k, v in parameters.items()],
            ),
        )
        created = self._call(
            f"submit {template}", self.api.submit_workflow, self.server.namespace, request
        )
        name = (created.get("metadata") or {}).get("name")
        if not name:
            raise ArgoError(f"Argo Server {self.server.url}: submit {template}: no workflow name")
        return str(name)

    def phase(self, name: str) -> str:
        """The Workflow's phase (``""`` before the controller picked it up)."""
        found = self._call(f"get {name}", self.api.get_workflow, self.server.namespace, name)
        return str((found.get("status") or {}).get("phase") or "")

    def failed_steps(self, name: str) -> list[str]:
        """The failed steps of the Workflow (:func:`failed_steps`)."""
        found = self._call(f"get {name}", self.api.get_workflow, self.server.namespace, name)
        return failed_steps(found)


def failed_steps(workflow: dict[str, Any]) -> list[str]:
    """Each failed step of a Workflow as ``<step>: <message>``, in the order they started.

    Only the steps that ran a pod: their message is what failed (``Error (exit code 22)``);
    the DAG around them only repeats that a child failed.
    """
    nodes = ((workflow.get("status") or {}).get("nodes") or {}).values()
    lines: list[str] = []
    for node in sorted(nodes, key=lambda n: str(n.get("startedAt") or "")):
        if node.get("type") == "Pod" and node.get("phase") in ("Failed", "Error"):
            line = f"{node.get('displayName')}: {node.get('message') or node.get('phase')}"
            if line not in lines:
                lines.append(line)
    return lines


def _message(detail: str) -> str:
    try:
        body = json.loads(detail)
    except (json.JSONDecodeError, TypeError):
        return detail.strip()[:200]
    return str(body.get("message", "") if isinstance(body, dict) else body)[:200]
