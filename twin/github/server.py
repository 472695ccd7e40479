"""``python -m twin github-serve``: the fake GitHub's process (REST, git over HTTP, runner).

It listens on 127.0.0.1, registers itself in ``<home>/state.json`` as ``github`` (``pid``,
``url``, ``api_url``, ``git_url``, ``repository``, ``person``, ``person_token``, ``folder``) once
it accepts connections, and on SIGTERM cancels every run (killing the steps' process groups)
before it unregisters and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from twin import state
from twin.github import admin, api_actions, api_checks, api_pulls, api_repo, githttp
from twin.github.config import REPOSITORY
from twin.github.service import GitHubTwin
from twin.procs import free_port, http_ok, log_tail, spawn, wait_until

log = logging.getLogger(__name__)
SERVICE = "github"


def make_app(
    twin: GitHubTwin, on_ready: contextlib.AbstractContextManager[None] | None = None
) -> Starlette:
    """The Starlette application of the fake GitHub."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with on_ready or contextlib.nullcontext():
            try:
                yield
            finally:
                twin.runner.shutdown()

    routes = [
        *admin.routes(twin),
        *api_repo.routes(twin),
        *api_checks.routes(twin),
        *api_pulls.routes(twin),
        *api_actions.routes(twin),
        *githttp.routes(twin),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


@contextlib.contextmanager
def _registered(home: Path, twin: GitHubTwin) -> Iterator[None]:
    # Whoever spawned this process may have registered it already (pid, log): keep those keys.
    previous = state.load(home)["services"].get(SERVICE) or {}
    kept = previous if previous.get("pid") == os.getpid() else {}
    state.register(
        home,
        SERVICE,
        **{
            **kept,
            "pid": os.getpid(),
            "url": twin.url,
            "api_url": twin.api_url,
            "git_url": twin.git_url,
            "repository": REPOSITORY,
            "person": twin.person.login,
            "person_token": twin.person.value,
            "folder": str(twin.home),
        },
    )
    try:
        yield
    finally:
        state.unregister(home, SERVICE)


def serve(home: Path, port: int) -> int:
    """Run the server until SIGTERM/SIGINT."""
    home = home.resolve()
    os.environ["TWIN_HOME"] = str(home)
    url = f"http://127.0.0.1:{port}"
    twin = GitHubTwin(home / "github", url, twin_home=home)
    app = make_app(twin, _registered(home, twin))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
    )
    uvicorn.Server(config).run()
    return 0


def start(home: Path, *, port: int | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Spawn ``python -m twin github-serve`` for ``home``; its state record once it answers.

    The process runs in its own session (stop it with ``twin.procs.stop(record["pid"])``);
    its log is ``<home>/logs/github.log``.
    """
    home = home.resolve()
    port = port or free_port()
    argv = [sys.executable, "-m", "twin", "github-serve", "--home", str(home), "--port", str(port)]
    logs = home / "logs"
    proc = spawn(SERVICE, argv, log_dir=logs, cwd=Path(__file__).resolve().parents[2])
    url = f"http://127.0.0.1:{port}"
    wait_until(
        "github",
        lambda: http_ok(f"{url}/healthz")() and state.service(home, SERVICE).get("url") == url,
        timeout=timeout,
        proc=proc,
        on_fail=lambda: log_tail(logs, SERVICE),
    )
    return state.service(home, SERVICE)


def _command(args: argparse.Namespace) -> int:
    home = Path(args.home) if args.home else state.default_home(Path.cwd())
    return serve(home, args.port or free_port())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``github-serve`` to the twin's command line."""
    parser = subparsers.add_parser(
        "github-serve", help="run the fake GitHub (REST API, git over HTTP, workflow runner)"
    )
    parser.add_argument("--home", help="twin home (default: $TWIN_HOME or ./.twin)")
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    parser.set_defaults(handler=_command)
