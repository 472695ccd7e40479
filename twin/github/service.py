"""The fake GitHub as one object: settings, tokens, the origin, the records and the runner."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from twin.github.config import NAME, OWNER, REPOSITORY, default_config, merged
from twin.github.gitrepo import BareRepo
from twin.github.store import Store
from twin.github.tokens import Token, TokenTable

log = logging.getLogger(__name__)


class GitHubTwin:
    """Everything the HTTP routes and the runner share.

    Attributes:
        home: ``<twin home>/github``: the origin (``repos/``), runs (``runs/``), artifacts.
        url: Where the server listens (``http://127.0.0.1:<port>``), also the git host.
        api_url: ``<url>/api/v3``.
    """

    def __init__(self, home: Path, url: str, twin_home: Path | None = None) -> None:
        self.home = home
        self.twin_home = twin_home or home.parent
        self.url = url.rstrip("/")
        self.api_url = f"{self.url}/api/v3"
        self.git_url = f"{self.url}/{REPOSITORY}"
        self.config: dict[str, Any] = default_config()
        self.config_lock = threading.Lock()
        self.tokens = TokenTable()
        self.store = Store()
        self.repo = BareRepo(home / "repos", REPOSITORY)
        self.repo.init(self.default_branch)
        self.runs_dir = home / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.person = self.tokens.mint("user", self.config["person"]["login"], {}, admin=True)
        self.pushes: dict[str, Token] = {}
        self.auto_environments: set[str] = set()
        from twin.github.runner import Runner  # the runner needs this object built first

        self.runner = Runner(self)

    @property
    def default_branch(self) -> str:
        """The repository's default branch."""
        return str(self.config["repository"]["default_branch"])

    def configure(self, update: dict[str, Any]) -> dict[str, Any]:
        """Replace the given top-level config keys; a new person gets a new token."""
        with self.config_lock:
            before = self.config["person"]["login"]
            self.config = merged(self.config, update)
            if self.config["person"]["login"] != before:
                self.tokens.revoke(self.person.value)
                self.person = self.tokens.mint(
                    "user", self.config["person"]["login"], {}, admin=True
                )
            return self.config

    def repository_json(self) -> dict[str, Any]:
        """GitHub's repository shape (``GET /repos/{owner}/{repo}``, event payloads)."""
        repo = self.config["repository"]
        return {
            "id": 424242,
            "node_id": "R_twin",
            "name": NAME,
            "full_name": REPOSITORY,
            "owner": {"login": OWNER, "type": "Organization", "id": 4242},
            "private": bool(repo["private"]),
            "visibility": "private" if repo["private"] else "public",
            "html_url": f"{self.url}/{REPOSITORY}",
            "url": f"{self.api_url}/repos/{REPOSITORY}",
            "clone_url": f"{self.git_url}.git",
            "default_branch": self.default_branch,
            "delete_branch_on_merge": bool(repo["delete_branch_on_merge"]),
            "allow_auto_merge": bool(repo["allow_auto_merge"]),
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": False,
        }

    def environment(self, name: str) -> dict[str, Any]:
        """An environment's settings.

        A name a workflow uses but nobody configured is created empty (no protection rules),
        as GitHub does on first use.
        """
        envs = self.config["environments"]
        if name not in envs:
            self.auto_environments.add(name)
            return {}
        return dict(envs[name] or {})

    def user_json(self, login: str) -> dict[str, Any]:
        """A user or bot as GitHub shows it."""
        return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}
