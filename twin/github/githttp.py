"""Git over smart HTTP through ``git http-backend`` (CGI), with GitHub's authentication.

Clones and fetches need a token with ``contents: read`` when the repository is private; pushes
need ``contents: write``. A token may come as HTTP basic (``x-access-token:<token>``, the form
``actions/checkout`` persists) or as a bearer header. During a push the repository's
pre-receive hook asks ``POST /_twin/pre-receive`` whether branch protection lets each update
land (and refuses workflow-file changes from a ``GITHUB_TOKEN`` or an App without
``workflows: write``, as GitHub does); afterwards every moved ref becomes a ``push`` event
attributed to the token's identity.
"""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from twin.github import events
from twin.github.config import REPOSITORY
from twin.github.gitrepo import ZERO, git_env
from twin.github.http import bearer
from twin.github.pulls import protection_failures
from twin.github.service import GitHubTwin
from twin.github.tokens import Token

CHALLENGE = {"WWW-Authenticate": 'Basic realm="GitHub"'}


def _cgi(
    twin: GitHubTwin, request: Request, body: bytes, token: Token | None, push_id: str
) -> tuple[int, dict[str, str], bytes]:
    path = request.url.path
    if not path.split("/")[2].endswith(".git"):
        parts = path.split("/")
        parts[2] += ".git"
        path = "/".join(parts)
    env = git_env(
        {
            "GIT_PROJECT_ROOT": str(twin.repo.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_HTTP_MAX_REQUEST_BUFFER": "200M",
            "PATH_INFO": path,
            "REQUEST_METHOD": request.method,
            "QUERY_STRING": request.url.query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": token.login if token else "",
            "REMOTE_ADDR": request.client.host if request.client else "127.0.0.1",
            "TWIN_GITHUB_PUSH_ID": push_id,
            "TWIN_GITHUB_URL": twin.url,
            "TWIN_GITHUB_DEFAULT_REF": f"refs/heads/{twin.default_branch}",
        }
    )
    for header, name in (
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
    ):
        if request.headers.get(header):
            env[name] = request.headers[header]
    proc = subprocess.run(  # noqa: S603 - fixed argv, the CGI request in the environment
        ["git", "http-backend"],  # noqa: S607
        input=body,
        capture_output=True,
        env=env,
        check=False,
    )
    head, _, payload = proc.stdout.partition(b"\r\n\r\n")
    if not _:
        head, _, payload = proc.stdout.partition(b"\n\n")
    status, headers = 200, {}
    for line in head.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers[key.strip()] = value.strip()
    return status, headers, payload


def _push(
    twin: GitHubTwin, request: Request, body: bytes, token: Token
) -> tuple[int, dict[str, str], bytes]:
    push_id = uuid.uuid4().hex
    twin.pushes[push_id] = token
    with twin.repo.lock:
        before = twin.repo.refs()
        try:
            result = _cgi(twin, request, body, token, push_id)
        finally:
            twin.pushes.pop(push_id, None)
        after = twin.repo.refs()
    for ref in sorted(set(before) | set(after)):
        old, new = before.get(ref, ZERO), after.get(ref, ZERO)
        if old != new and not ref.startswith("refs/pull/"):
            events.push(twin, ref, old, new, token)
    return result


def routes(twin: GitHubTwin) -> list[Route]:
    """``info/refs``, ``git-upload-pack`` and ``git-receive-pack`` of the one repository."""

    async def endpoint(request: Request) -> Response:
        owner, repo = request.path_params["owner"], request.path_params["repo"].removesuffix(".git")
        if f"{owner}/{repo}".lower() != REPOSITORY:
            return Response("Repository not found.\n", status_code=404)
        service = request.query_params.get("service") or request.url.path.rsplit("/", 1)[-1]
        pushing = service == "git-receive-pack"
        token = twin.tokens.get(bearer(request))
        if token is None and (pushing or twin.config["repository"]["private"]):
            return Response("Authentication required\n", status_code=401, headers=CHALLENGE)
        if token is not None and not token.can("contents", "write" if pushing else "read"):
            verb = "Permission to" if pushing else "Read access to"
            return Response(f"{verb} {REPOSITORY}.git denied to {token.login}.\n", status_code=403)
        body = await request.body()
        if pushing and request.method == "POST":
            assert token is not None  # noqa: S101 - checked above
            status, headers, payload = await run_in_threadpool(_push, twin, request, body, token)
        else:
            status, headers, payload = await run_in_threadpool(_cgi, twin, request, body, token, "")
        return Response(payload, status_code=status, headers=headers)

    paths = (
        "/{owner}/{repo}/info/refs",
        "/{owner}/{repo}/git-upload-pack",
        "/{owner}/{repo}/git-receive-pack",
    )
    return [Route(path, endpoint, methods=["GET", "POST"]) for path in paths]


def pre_receive(twin: GitHubTwin, doc: dict[str, Any]) -> dict[str, Any]:
    """The hook's question: may these ref updates land? GitHub's GH006 messages when not."""
    token = twin.pushes.get(str(doc.get("push_id")))
    if token is None:
        return {"ok": False, "messages": ["error: the push is not known to the fake GitHub"]}
    messages: list[str] = []
    for update in doc.get("updates") or []:
        old, new, ref = update[0], update[1], update[2]
        fast_forward = len(update) < 4 or update[3] == "ff"
        if ref.startswith("refs/pull/"):
            messages.append(f"error: {ref} is read-only")
            continue
        workflow_files = update[4] if len(update) > 4 else []
        if workflow_files and not _may_change_workflows(token):
            messages.append(
                f"error: refusing to allow a GitHub App to create or update workflow "
                f"`{workflow_files[0]}` without `workflows` permission ({ref})"
            )
            continue
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        rules = twin.config["branch_protection"].get(branch) if branch else None
        if not rules:
            continue
        if (token.admin and not rules.get("enforce_admins")) or token.login in (
            rules.get("bypass") or []
        ):
            continue
        why = []
        if new == ZERO:
            why.append("Cannot delete this protected branch")
        elif old != ZERO and not fast_forward and not rules.get("allow_force_pushes"):
            why.append("Cannot force-push to this branch")
        if rules.get("required_pull_request_reviews"):
            why.append("Changes must be made through a pull request.")
        if new != ZERO:
            why += protection_failures(twin, branch or "", new)
        if why:
            messages.append(f"error: GH006: Protected branch update failed for {ref}.")
            messages += [f"error: {reason}" for reason in why]
    return {"ok": not messages, "messages": messages}


def _may_change_workflows(token: Token) -> bool:
    """GitHub's rule: GITHUB_TOKEN never, an App only with ``workflows: write``, people may."""
    if token.kind == "workflow":
        return False
    return token.kind == "user" or token.permissions.get("workflows") == "write"


def pre_receive_route(twin: GitHubTwin) -> Route:
    """``POST /_twin/pre-receive`` (called by the hook only)."""

    async def endpoint(request: Request) -> Response:
        doc = await request.json()
        return JSONResponse(await run_in_threadpool(pre_receive, twin, doc))

    return Route("/_twin/pre-receive", endpoint, methods=["POST"])
