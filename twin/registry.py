"""The twin's container registry (GHCR stand-in): images built from a checkout, by digest.

An image is what a Dockerfile target's COPY lines take from the build context (after
``.dockerignore``), placed at their image paths, plus a config (WORKDIR, ENV, USER, ENTRYPOINT,
CMD, the folder of the copied project). Its digest is the sha256 of a deterministic tar of
both (sorted entries, zero mtimes and owners), so the same sources give the same digest.
Layout under ``<twin home>/registry/``: ``blobs/sha256/<hex>.tar``, ``images/<hex>/`` (the
materialised tree: ``rootfs/`` and ``config.json``) and ``refs.json`` (repositories and tags).

Used by the GitHub runner's ``docker/build-push-action`` (``build`` then ``push``) and by the
pod runner (``resolve`` then ``materialise``). RUN lines are not executed: pods run the image's
code with the twin's runtime venv (the same lock) and ``PYTHONPATH`` on the image's project.
"""

from __future__ import annotations

import compileall
import fcntl
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipelines.io import atomic
from twin.errors import TwinError
from twin.registry_dockerfile import image_plan
from twin.state import default_home

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_NAME = ".twin-image-config.json"


def registry_dir(home: Path | None = None) -> Path:
    """``<twin home>/registry``."""
    return (home or default_home(REPO_ROOT)) / "registry"


def _tar_bytes(context: Path, files: dict[str, str], config: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = [(CONFIG_NAME, json.dumps(config, sort_keys=True).encode(), 0o644)]
        for image_path in sorted(files):
            source = context / files[image_path]
            mode = 0o755 if source.stat().st_mode & 0o100 else 0o644
            entries.append((f"rootfs{image_path}", source.read_bytes(), mode))
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build(
    context: Path, dockerfile: Path, target: str | None = None, *, home: Path | None = None
) -> str:
    """Build an image from ``context`` and store its blob; returns ``sha256:<hex>``.

    Raises:
        TwinError: The Dockerfile or a COPY source is wrong (one line naming it).
    """
    if not dockerfile.exists():
        raise TwinError(f"docker build: {dockerfile} does not exist")
    files, config = image_plan(context.resolve(), dockerfile, target)
    data = _tar_bytes(context.resolve(), files, config)
    hex_digest = hashlib.sha256(data).hexdigest()
    blob = registry_dir(home) / "blobs" / "sha256" / f"{hex_digest}.tar"
    if not blob.exists():
        blob.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(blob, data)
    return f"sha256:{hex_digest}"


@contextmanager
def _refs(home: Path | None) -> Iterator[dict[str, Any]]:
    root = registry_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "refs.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = root / "refs.json"
        doc: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        doc.setdefault("repositories", {})
        before = json.dumps(doc, sort_keys=True)
        yield doc
        if json.dumps(doc, sort_keys=True) != before:
            atomic.write_json(path, doc)


def split_reference(reference: str) -> tuple[str, str | None, str | None]:
    """``(repository, tag, digest)`` of ``repo[:tag][@sha256:hex]``."""
    name, _, digest = reference.partition("@")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest or None


def push(reference: str, digest: str, *, home: Path | None = None) -> str:
    """Push a built digest to ``repository[:tag]``; returns ``repository@digest``.

    Raises:
        TwinError: The digest was never built here.
    """
    repository, tag, _ = split_reference(reference)
    if not _blob(digest, home).exists():
        raise TwinError(f"docker push {reference}: digest {digest} is not in the twin's registry")
    with _refs(home) as refs:
        repo = refs["repositories"].setdefault(repository, {"digests": [], "tags": {}})
        if digest not in repo["digests"]:
            repo["digests"].append(digest)
        if tag:
            repo["tags"][tag] = digest
    return f"{repository}@{digest}"


def resolve(reference: str, *, home: Path | None = None) -> str | None:
    """The digest ``reference`` names in the registry (by tag or digest), or None."""
    repository, tag, digest = split_reference(reference)
    with _refs(home) as refs:
        repo = refs["repositories"].get(repository)
        if repo is None:
            return None
        if digest:
            return digest if digest in repo["digests"] else None
        found = repo["tags"].get(tag or "latest")
        return str(found) if found else None


def _blob(digest: str, home: Path | None) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha256" or len(hex_digest) != 64:
        raise TwinError(f"image digest {digest!r}: expected sha256:<64 hex>")
    return registry_dir(home) / "blobs" / "sha256" / f"{hex_digest}.tar"


def materialise(digest: str, *, home: Path | None = None) -> Path:
    """The image's tree (``rootfs/`` and ``config.json``), extracted once, read-only to others.

    Raises:
        TwinError: The digest is not in the registry.
    """
    blob = _blob(digest, home)
    target = registry_dir(home) / "images" / digest.partition(":")[2]
    if (target / "config.json").exists():
        return target
    if not blob.exists():
        raise TwinError(f"image {digest} is not in the twin's registry (build and push it first)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".extract.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").exists():
            staging = target.with_name(target.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            with tarfile.open(blob) as tar:
                tar.extractall(staging, filter="data")
            (staging / CONFIG_NAME).rename(staging / "config.json")
            (staging / "rootfs").mkdir(exist_ok=True)
            _compile_python_paths(staging)
            staging.rename(target)
    return target


def _compile_python_paths(tree: Path) -> None:
    """Write the bytecode of the image's Python sources, as the image build does.

    The Dockerfile installs with ``UV_COMPILE_BYTECODE=1`` and the container never writes
    bytecode (``PYTHONDONTWRITEBYTECODE``, read-only root): without this every pod start
    compiled the project's modules again. Same minor version as the pods' interpreter, so
    the same bytecode format; each file still checks its source's mtime and size.
    """
    config = json.loads((tree / "config.json").read_text())
    for path in config.get("python_paths") or []:
        folder = tree / "rootfs" / str(path).lstrip("/")
        if folder.is_dir():
            compileall.compile_dir(folder, quiet=2, workers=1)


def image_config(digest: str, *, home: Path | None = None) -> dict[str, Any]:
    """The image's config (``workdir``, ``env``, ``user``, ``entrypoint``, ``cmd``, ...)."""
    config: dict[str, Any] = json.loads(
        (materialise(digest, home=home) / "config.json").read_text()
    )
    return config
