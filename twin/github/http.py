"""HTTP plumbing shared by the REST routes: authentication, JSON in and out, GitHub's errors.

Every handler is a plain function ``(twin, Call) -> payload | (status, payload)`` run in a
worker thread (handlers call git), so the event loop stays free for git's hook callbacks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from twin.github.config import REPOSITORY
from twin.github.pulls import ApiError
from twin.github.service import GitHubTwin
from twin.github.tokens import Token

API = "/api/v3"
REPO = f"{API}/repos/{{owner}}/{{repo}}"


@dataclass
class Call:
    """One API request as a handler sees it."""

    token: Token
    params: dict[str, str]
    query: dict[str, str]
    body: Any

    def int_param(self, name: str) -> int:
        """A numeric path parameter (404 when it is not a number)."""
        try:
            return int(self.params[name])
        except ValueError:
            raise ApiError(404, "Not Found") from None


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization`` header (``token``, ``Bearer`` or Basic's password)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("token", "bearer"):
        return value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password or user
    return None


def need(token: Token, scope: str, level: str) -> None:
    """403 unless the token holds ``scope`` at ``level`` (``admin`` = repository admin)."""
    if scope == "admin":
        if token.admin or token.permissions.get("administration") in ("read", "write"):
            return
        raise ApiError(403, "Resource not accessible by integration")
    if not token.can(scope, level):
        raise ApiError(403, "Resource not accessible by integration")


def page(items: list[Any], query: dict[str, str]) -> list[Any]:
    """GitHub's ``per_page`` (default 30, max 100) and ``page`` (from 1)."""
    per_page = min(100, max(1, int(query.get("per_page", "30") or 30)))
    number = max(1, int(query.get("page", "1") or 1))
    return items[(number - 1) * per_page : number * per_page]


Handler = Callable[[GitHubTwin, Call], Any]


def route(twin: GitHubTwin, path: str, methods: list[str], handler: Handler) -> Route:
    """A Starlette route calling ``handler`` with an authenticated ``Call``."""

    async def endpoint(request: Request) -> Response:
        params = dict(request.path_params)
        owner, repo = params.pop("owner", None), params.pop("repo", None)
        if owner is not None and f"{owner}/{repo}".lower() != REPOSITORY:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return JSONResponse({"message": "Problems parsing JSON"}, status_code=400)
        value = bearer(request)
        token = twin.tokens.get(value)
        if token is None:
            message = "Bad credentials" if value else "Requires authentication"
            return JSONResponse({"message": message}, status_code=401)
        call = Call(token=token, params=params, query=dict(request.query_params), body=body)
        try:
            result = await run_in_threadpool(handler, twin, call)
        except ApiError as exc:
            payload: dict[str, Any] = {"message": exc.message}
            if exc.errors:
                payload["errors"] = exc.errors
            return JSONResponse(payload, status_code=exc.status)
        status, payload_out, headers = (
            (*result, {})[:3] if isinstance(result, tuple) else (200, result, {})
        )
        if status == 204:
            return Response(status_code=204, headers=headers)
        return JSONResponse(payload_out, status_code=status, headers=headers)

    return Route(path, endpoint, methods=methods)
