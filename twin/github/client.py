"""A client of the fake GitHub for the e2e driver and the tests: trigger, wait, read, merge.

Waiting never sleeps: it long-polls ``GET /_twin/wait`` (the server answers when something
changed) and gives up at a deadline with a ``TwinError`` naming what it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from twin import state
from twin.errors import TwinError
from twin.github.config import REPOSITORY

LONG_POLL_SECONDS = 20.0


class GitHubTwinClient:
    """Talks to one running fake GitHub as its person (or with another token)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.api_url = f"{self.url}/api/v3/repos/{REPOSITORY}"
        self.token = token
        self.http = httpx.Client(timeout=LONG_POLL_SECONDS + 10)

    @classmethod
    def from_home(cls, home: Path) -> GitHubTwinClient:
        """The client of the server registered in ``<home>/state.json``."""
        try:
            record = state.service(home, "github")
        except KeyError:
            raise TwinError(f"github: not running (no 'github' in {home / 'state.json'})") from None
        return cls(record["url"], record["person_token"])

    # -- plumbing -------------------------------------------------------------------------
    def api(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> httpx.Response:
        """One REST call (``path`` relative to the repository, e.g. ``/pulls``)."""
        headers = {
            "Authorization": f"Bearer {token or self.token}",
            "Accept": "application/vnd.github+json",
        }
        return self.http.request(method, self.api_url + path, json=body, headers=headers)

    def _admin(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.http.request(method, self.url + path, json=body, params=params or None)
        if response.status_code >= 400 and response.status_code != 408:
            raise TwinError(
                f"github: {method} {path}: HTTP {response.status_code} {response.text[:200]}"
            )
        return response.json()

    def configure(self, **keys: Any) -> dict[str, Any]:
        """Replace top-level keys of the twin config (see ``twin.github.config``)."""
        result: dict[str, Any] = self._admin("POST", "/_twin/config", keys)
        return result

    def mint_token(
        self,
        kind: str = "user",
        login: str | None = None,
        permissions: dict[str, str] | None = None,
        *,
        admin: bool = False,
    ) -> str:
        """A new user or App token (``admin``: a repository admin, beyond ``permissions``)."""
        body = {"kind": kind, "login": login, "permissions": permissions or {}, "admin": admin}
        return str(self._admin("POST", "/_twin/tokens", body)["token"])

    # -- triggers -------------------------------------------------------------------------
    def fire_schedule(self, workflow: str, cron: str | None = None) -> dict[str, Any]:
        """Fire ``schedule`` for one workflow file (e.g. ``data.yml``); the event record."""
        result: dict[str, Any] = self._admin(
            "POST", "/_twin/schedule", {"workflow": workflow, "cron": cron}
        )
        return result

    def _event_of(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 204:
            raise TwinError(f"github: {what}: HTTP {response.status_code} {response.text[:300]}")
        return self.event(int(response.headers["X-Twin-Event-Id"]))

    def dispatch_workflow(
        self,
        workflow: str,
        ref: str = "main",
        inputs: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> dict[str, Any]:
        """``workflow_dispatch`` of ``workflow`` (file name); the event record with its runs."""
        body = {"ref": ref, "inputs": inputs or {}}
        response = self.api("POST", f"/actions/workflows/{workflow}/dispatches", body, token=token)
        return self._event_of(response, f"dispatch {workflow}")

    def repository_dispatch(
        self, event_type: str, payload: dict[str, Any], *, token: str | None = None
    ) -> dict[str, Any]:
        """``repository_dispatch``; the event record."""
        body = {"event_type": event_type, "client_payload": payload}
        return self._event_of(
            self.api("POST", "/dispatches", body, token=token), f"dispatch {event_type}"
        )

    # -- reading --------------------------------------------------------------------------
    def event(self, event_id: int) -> dict[str, Any]:
        """One event record."""
        result: dict[str, Any] = self._admin("GET", f"/_twin/events/{event_id}")
        return result

    def events(self, pr: int | None = None, event: str | None = None) -> list[dict[str, Any]]:
        """Event records (filtered by pull request number or event name)."""
        params = {k: v for k, v in (("pr", pr), ("event", event)) if v is not None}
        result: list[dict[str, Any]] = self._admin("GET", "/_twin/events", **params)
        return result

    def no_run_reasons(self, pr: int | None = None) -> list[str]:
        """Why events started nothing ("pull_request.opened on PR #3 was made with ...")."""
        return [e["reason"] for e in self.events(pr=pr) if e["reason"] and not e["runs"]]

    def run(self, run_id: int) -> dict[str, Any]:
        """A run with jobs, steps, annotations, outputs, summaries."""
        result: dict[str, Any] = self._admin("GET", f"/_twin/runs/{run_id}")
        return result

    def runs(self, workflow: str | None = None, **filters: str) -> list[dict[str, Any]]:
        """``GET /actions/runs`` (newest first), of one workflow file or all.

        ``filters`` are GitHub's query parameters: ``event``, ``status`` (a status or a
        conclusion), ``branch``, ``head_sha``, ``actor``.
        """
        path = f"/actions/workflows/{workflow}/runs" if workflow else "/actions/runs"
        response = self.http.get(
            self.api_url + path,
            params={"per_page": "100", **filters},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if response.status_code != 200:
            raise TwinError(
                f"github: GET {path}: HTTP {response.status_code} {response.text[:200]}"
            )
        runs: list[dict[str, Any]] = response.json()["workflow_runs"]
        return runs

    def step_log(self, run_id: int, job: str | None = None, step: str | int | None = None) -> str:
        """Step logs of a run (one job, one step by number or name)."""
        params = {k: str(v) for k, v in (("job", job), ("step", step)) if v is not None}
        return self.http.get(f"{self.url}/_twin/runs/{run_id}/log", params=params).text

    def summary(self, run_id: int, job: str | None = None) -> str:
        """The ``GITHUB_STEP_SUMMARY`` text of a run's jobs."""
        return "".join(
            j["summary"] for j in self.run(run_id)["jobs"] if job is None or j["key"] == job
        )

    # -- waiting --------------------------------------------------------------------------
    def wait_run(self, run_id: int, timeout: float) -> dict[str, Any]:
        """The run once completed."""
        return self.wait_for(f"run {run_id} to complete", lambda: _done(self.run(run_id)), timeout)

    def wait_event(self, event_id: int, timeout: float) -> list[dict[str, Any]]:
        """Every run an event started, once all completed."""
        runs = self.wait_for(
            f"the runs of event {event_id}",
            lambda: (lambda rs: rs if all(_done(r) for r in rs) else None)(
                [self.run(i) for i in self.event(event_id)["runs"]]
            ),
            timeout,
        )
        return list(runs)

    def wait_for_runs(
        self, workflow: str, condition: Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> list[dict[str, Any]]:
        """The runs of ``workflow`` once ``condition(runs)`` holds."""
        return self.wait_for(
            f"runs of {workflow}",
            lambda: (lambda rs: rs if condition(rs) else None)(self.runs(workflow)),
            timeout,
        )

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float) -> Any:
        """``probe()`` once it returns something truthy, re-checked whenever the server changes."""
        deadline = time.monotonic() + timeout
        version = self._admin("GET", "/_twin/wait", changed_since=-1, timeout=0)["version"]
        while True:
            result = probe()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TwinError(f"github: gave up waiting for {what} after {timeout:.0f}s")
            answer = self._admin(
                "GET",
                "/_twin/wait",
                changed_since=version,
                timeout=min(remaining, LONG_POLL_SECONDS),
            )
            version = answer["version"]

    # -- pull requests --------------------------------------------------------------------
    def pulls(
        self, state_: str = "open", head: str | None = None, base: str | None = None
    ) -> list[dict[str, Any]]:
        """Pull requests (``head`` as a branch name)."""
        params = (
            f"?state={state_}&per_page=100"
            + (f"&head={head}" if head else "")
            + (f"&base={base}" if base else "")
        )
        result: list[dict[str, Any]] = self.api("GET", "/pulls" + params).json()
        return result

    def merge(self, number: int, method: str = "merge") -> dict[str, Any]:
        """Merge a pull request as the person (refused when required checks are not green)."""
        response = self.api("PUT", f"/pulls/{number}/merge", {"merge_method": method})
        if response.status_code != 200:
            raise TwinError(
                f"github: merge of PR #{number} refused: HTTP {response.status_code} "
                f"{response.json().get('message')}"
            )
        result: dict[str, Any] = response.json()
        return result


def _done(run: dict[str, Any]) -> dict[str, Any] | None:
    return run if run["status"] == "completed" else None
