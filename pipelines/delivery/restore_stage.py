"""The DVC side of a data restore: safety checks, staging a revision's outputs, the swap.

Through DVC's Python API (``dvc.repo.Repo``, ``dvc.api.DVCFileSystem``), so a restore needs the
``dvc`` package, not a ``dvc`` executable on PATH; without the package it stops with one line
before anything is read or written.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipelines.delivery.restore_plan import Change, RestoreError
from pipelines.io import atomic


@contextlib.contextmanager
def _dvc_errors(what: str) -> Iterator[None]:
    from dvc.exceptions import DvcException

    try:
        yield
    except DvcException as exc:
        raise RestoreError(f"{what}: {exc}; nothing was changed") from None


class DvcRepo:
    """One open DVC repository."""

    def __init__(self, root: Path) -> None:
        """Open the repository at ``root`` (the ``dvc`` package must be importable)."""
        from dvc.repo import Repo

        self.root = root
        with _dvc_errors(str(root)):
            self.repo: Any = Repo(str(root))

    def data_stages(self, target: str | None) -> list[str]:
        """``target`` and every stage upstream of it in dvc.yaml (None: every stage)."""
        with _dvc_errors(f"--stage {target}"):
            if target is None:
                return sorted(s.name for s in self.repo.index.stages)
            address = f"{self.root / 'dvc.yaml'}:{target}"  # not relative to the cwd
            return sorted(s.name for s in self.repo.stage.collect(address, with_deps=True))

    def status(self) -> dict[str, Any]:
        """``dvc data status`` of the work tree against ``dvc.lock`` and the cache."""
        with _dvc_errors("dvc data status"):
            return dict(self.repo.data_status(granular=False))

    def fetch(self, commit: str, paths: Sequence[str]) -> str | None:
        """Download the revision's objects of ``paths`` into the cache when a remote is set.

        Returns:
            None, or why the remote could not be used (no remote configured, unreachable, ...).
            Missing objects are not an error here: staging finds and names them.
        """
        from dvc.exceptions import DvcException

        try:
            # Targets at a revision are read relative to the working directory.
            with contextlib.chdir(self.root):
                self.repo.fetch(targets=list(paths), revs=[commit], workspace=False)
        except DvcException as exc:
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None

    def close(self) -> None:
        """Release the repository."""
        self.repo.close()


def open_dvc(root: Path) -> DvcRepo:
    """Open the DVC repository, or say in one line why not.

    Raises:
        RestoreError: The ``dvc`` package is missing or ``root`` is not a DVC repository.
    """
    try:
        import dvc.repo  # noqa: F401 - only whether it imports
    except ImportError:
        raise RestoreError(
            "dvc is not installed (install the project's data extra, e.g. `make setup`); "
            "nothing was changed"
        ) from None
    return DvcRepo(root)


def _paths(entries: Any) -> set[str]:
    if isinstance(entries, dict):
        return {p.rstrip("/") for v in entries.values() for p in v}
    return {str(p).rstrip("/") for p in entries or []}


def unsafe_outputs(repo: DvcRepo, paths: Sequence[str]) -> list[str]:
    """Outputs whose current version a restore would destroy, each with the reason."""
    status = repo.status()
    uncommitted = status.get("uncommitted", {})
    modified = _paths({k: v for k, v in uncommitted.items() if k != "deleted"})
    not_cached = _paths(status.get("not_in_cache"))
    found = []
    for path in paths:
        exists = (repo.root / path).exists()
        if path in modified and exists:
            found.append(f"{path}: changed since dvc.lock (uncommitted data; `dvc commit` it)")
        elif path in not_cached and exists:
            found.append(f"{path}: this version is not in the DVC cache (`dvc fetch` it first)")
    return found


def stage_outputs(repo: DvcRepo, commit: str, paths: Sequence[str], staging: Path) -> None:
    """Materialise the revision's version of every path under ``staging``, or none at all.

    Raises:
        RestoreError: Objects available neither in the cache nor on the remote (all named).
    """
    from dvc.api import DVCFileSystem

    remote = repo.fetch(commit, paths)
    fs = DVCFileSystem(str(repo.root), rev=commit)
    missing = []
    for path in paths:
        try:
            fs.get(path, str(staging / path), recursive=fs.isdir(path))
        except Exception as exc:  # noqa: BLE001 - named below, whatever DVC raised
            missing.append(f"{path} ({type(exc).__name__}: {str(exc).splitlines()[0]})")
    if missing:
        where = f"remote: {remote}" if remote else "nor on the remote"
        raise RestoreError(
            f"{commit[:12]}: not in the DVC cache ({where}), so nothing was changed: "
            + "; ".join(missing)
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def swap_in(
    root: Path,
    staging: Path,
    changes: Sequence[Change],
    lock_file: Path,
    new_lock: str,
    old_lock: str,
) -> None:
    """Rename the staged outputs into place and write ``dvc.lock``; undo all on any failure.

    Afterwards DVC must find the work tree equal to the new ``dvc.lock`` for every output.

    Raises:
        RestoreError: The work tree does not match the restored ``dvc.lock`` (undone).
    """
    done: list[tuple[Path, Path | None]] = []
    try:
        for change in changes:
            target, staged = root / change.path, staging / change.path
            backup = None
            if target.exists() or target.is_symlink():
                backup = staging / "before" / change.path
                backup.parent.mkdir(parents=True, exist_ok=True)
                target.replace(backup)
            done.append((target, backup))
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.replace(target)
        atomic.write_text(lock_file, new_lock)
        check = DvcRepo(root)
        try:
            status = check.status()
        finally:
            check.close()
        differ = sorted(_paths(status.get("uncommitted")) & {c.path for c in changes})
        if differ:
            raise RestoreError(f"after the swap DVC finds {', '.join(differ)} unlike dvc.lock")
    except BaseException:
        for target, backup in reversed(done):
            _remove(target)
            if backup is not None:
                backup.replace(target)
        if old_lock:
            atomic.write_text(lock_file, old_lock)
        else:
            lock_file.unlink(missing_ok=True)
        raise
