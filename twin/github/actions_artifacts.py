"""``actions/upload-artifact`` and ``actions/download-artifact`` (v4 semantics) on a per-run store.

Upload: ``path`` holds globs or paths, one per line, ``!`` lines exclude; the artifact's root is
the least common ancestor of the search paths; hidden files are left out unless
``include-hidden-files``; ``if-no-files-found`` is ``warn`` (default), ``error`` or ``ignore``;
uploading a name twice in a run fails (409) unless ``overwrite``. Download: by ``name`` into
``path``, or every artifact (``pattern`` filters) into ``path/<name>/`` (``merge-multiple``
puts them together). Store: ``<twin>/github/artifacts/<run id>/<name>/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from fnmatch import fnmatchcase
from pathlib import Path

from twin.github.actions_table import ActionCall, ActionFailed
from twin.github.globs import glob_files

WILDCARDS = "*?["


def store_dir(call: ActionCall, run_id: str | None = None) -> Path:
    """The artifact folder of a run."""
    return call.job.twin.home / "artifacts" / (run_id or str(call.job.run.id))


def _search_root(workspace: Path, line: str) -> Path:
    parts = (workspace / line).parts
    fixed = next((i for i, part in enumerate(parts) if any(ch in part for ch in WILDCARDS)), None)
    if fixed is not None:
        return Path(*parts[:fixed])
    path = Path(*parts)
    return path.parent if path.is_file() else path


def upload(call: ActionCall) -> None:
    """Store the matched files under the artifact's name."""
    workspace = call.job.workspace
    name = call.input("name", "artifact")
    lines = [line.strip() for line in call.input("path").splitlines() if line.strip()]
    if not lines:
        raise ActionFailed("Input required and not supplied: path")
    files = glob_files(workspace, lines, include_hidden=call.flag("include-hidden-files", False))
    if not files:
        mode = call.input("if-no-files-found", "warn")
        message = (
            f"No files were found with the provided path: {' '.join(lines)}. "
            "No artifacts will be uploaded."
        )
        if mode == "error":
            raise ActionFailed(message)
        if mode == "warn":
            call.job.record.annotations.append({"level": "warning", "message": message})
        call.log(message)
        return
    roots = [_search_root(workspace, line) for line in lines if not line.startswith("!")]
    root = Path(os.path.commonpath([str(r.resolve()) for r in roots]))
    dest = store_dir(call) / name
    if dest.exists():
        if not call.flag("overwrite", False):
            raise ActionFailed(
                "Failed to CreateArtifact: Received non-retryable error: "
                "Failed request: (409) Conflict: "
                f"an artifact with this name already exists on the workflow run ({name})"
            )
        shutil.rmtree(dest)
    digest = hashlib.sha256()
    for path in files:
        relative = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes())
    artifact_id = call.job.twin.store.next_id()
    meta = {"id": artifact_id, "name": name, "files": len(files), "digest": digest.hexdigest()}
    (dest.parent / f"{name}.json").write_text(json.dumps(meta), encoding="utf-8")
    call.log(f"Uploaded {len(files)} file(s) as artifact '{name}' (root {root})")
    call.outputs.update(
        {
            "artifact-id": str(artifact_id),
            "artifact-url": f"{call.job.twin.git_url}/actions/runs/{call.job.run.id}"
            f"/artifacts/{artifact_id}",
            "artifact-digest": digest.hexdigest(),
        }
    )


def _copy_tree(source: Path, dest: Path) -> int:
    count = 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = dest / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += 1
    return count


def download(call: ActionCall) -> None:
    """Fetch one artifact by name, or all of them (filtered by ``pattern``)."""
    workspace = call.job.workspace
    dest = workspace / call.input("path", ".")
    folder = store_dir(call, call.input("run-id") or None)
    available = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    name = call.input("name")
    if name:
        if name not in available:
            raise ActionFailed(
                f"Unable to download artifact(s): Artifact not found for name: {name}"
            )
        count = _copy_tree(folder / name, dest)
        call.log(f"Downloaded artifact '{name}' ({count} file(s)) to {dest}")
    else:
        pattern = call.input("pattern")
        chosen = [n for n in available if not pattern or fnmatchcase(n, pattern)]
        merge = call.flag("merge-multiple", False)
        for artifact in chosen:
            _copy_tree(folder / artifact, dest if merge else dest / artifact)
        call.log(f"Downloaded {len(chosen)} artifact(s) to {dest}")
    call.outputs["download-path"] = str(dest.resolve())
