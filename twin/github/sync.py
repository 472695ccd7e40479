"""``python -m twin sync``: put the working tree's code on a running twin's ``main``.

The week's state on the origin stays: what the bots and promotions wrote (``dvc.lock``,
``models/``, ``reports/``, the environments' ``model.yaml``) is kept from the origin, every other
file comes from the source tree, and the twin profile is applied again. The commit lands
directly in the bare origin: like the seed, it starts no workflow.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twin import state
from twin.errors import TwinError
from twin.github.config import REPOSITORY
from twin.github.seed import _copy, snapshot_files

KEPT = ("dvc.lock", "models/", "reports/")


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise TwinError(f"sync: git {args[0]} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


def _kept(name: str) -> bool:
    return name.startswith(KEPT) or (
        name.startswith("environments/") and name.endswith("model.yaml")
    )


def sync(home: Path, source: Path, apply_profile: Callable[[Path], list[str]]) -> str:
    """Commit the source tree's code onto the origin's ``main``; returns the new SHA."""
    origin = Path(state.service(home, "github")["folder"]) / "repos" / f"{REPOSITORY}.git"
    with tempfile.TemporaryDirectory(prefix="twin-sync-") as tmp:
        work = Path(tmp) / "work"
        _git(Path(tmp), "clone", "--quiet", str(origin), str(work))
        for name in _git(work, "ls-files", "-z").split("\0"):
            if name and not _kept(name):
                (work / name).unlink(missing_ok=True)
        _copy(source, work, [n for n in snapshot_files(source) if not _kept(n)])
        apply_profile(work)
        _git(work, "add", "--all")
        if not _git(work, "status", "--porcelain"):
            return _git(work, "rev-parse", "HEAD")
        _git(
            work,
            "-c",
            "user.name=twin",
            "-c",
            "user.email=twin@twin.invalid",
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            "sync: the working tree's code",
        )
        _git(work, "push", "--quiet", str(origin), "HEAD:refs/heads/main")
        return _git(work, "rev-parse", "HEAD")


def _sync(args: Any) -> int:
    from twin.profile import apply_profile

    source = Path(args.source).resolve()
    home = state.default_home(source) if args.home is None else Path(args.home).resolve()
    sha = sync(home, source, apply_profile)
    # The cluster's WorkflowTemplates follow main as Terraform's apply would install them.
    from twin.cluster.bootstrap import bootstrap
    from twin.services import _origin_checkout

    bootstrap(home, _origin_checkout(home))
    print(f"twin: origin main is now {sha[:12]}; cluster objects re-applied")  # noqa: T201
    return 0


def register(commands: Any) -> None:
    """Add ``sync``."""
    parser = commands.add_parser("sync", help="put the working tree's code on the twin's main")
    parser.add_argument("--source", default=".", help="source tree (default: .)")
    parser.add_argument("--home", default=None, help="twin home (default: $TWIN_HOME or .twin)")
    parser.set_defaults(handler=_sync)
