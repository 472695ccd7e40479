"""Bytecode the jobs compile, kept in the runner's uv cache for the jobs after them.

Every job installs the lock into a fresh ``.venv`` with ``make setup``; uv hardlinks each file
from its cache (``<UV_CACHE_DIR>/archive-v0/<entry>/``), and links whatever else the entry
holds, ``__pycache__`` folders included. Python compiles what a process imports on first use
and writes the bytecode into the job's own venv: without more, each of the week's ~60 jobs
compiled pandas, DVC, MLflow and LightGBM again (12 s of a job's first imports against 6 s
warm, measured on 2 cores).

When a job ends, :func:`harvest` copies each bytecode file the job wrote for a cached source
(the venv's ``.py`` is the same inode as the cache entry's) into that entry's ``__pycache__``.
The next venv linked from the cache imports without compiling. Python checks each file against
its source's mtime and size (the same inode's, so it holds) and recompiles on any mismatch, so
a stale or foreign file costs a compile, never a wrong import. It is what a self-hosted
runner's persistent cache volume gives; a job's own sources (the checkout) are never kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

log = logging.getLogger(__name__)
ARCHIVE = "archive-v0"


def _entries_by_top_name(archive: Path) -> dict[str, list[Path]]:
    """Cache entries by the top-level names they install (``pandas``, ``six.py``, ...)."""
    found: dict[str, list[Path]] = defaultdict(list)
    with os.scandir(archive) as entries:
        for entry in entries:
            if not entry.is_dir():
                continue
            with os.scandir(entry.path) as names:
                for name in names:
                    found[name.name].append(Path(entry.path))
    return found


def _cached_twin(source: Path, site: Path, index: dict[str, list[Path]]) -> Path | None:
    """The cache entry's file that ``source`` (in a venv) is a hardlink of, or None."""
    stat = source.stat()
    if stat.st_nlink < 2:
        return None
    relative = source.relative_to(site)
    for entry in index.get(relative.parts[0], []):
        candidate = entry / relative
        try:
            other = candidate.stat()
        except OSError:
            continue
        if (other.st_ino, other.st_dev) == (stat.st_ino, stat.st_dev):
            return candidate
    return None


def _keep(pyc: Path, target: Path) -> bool:
    """Copy ``pyc`` to ``target`` atomically (a concurrent job may be writing the same).

    The copy is readable by everyone, as the sources beside it are: venvs link it, and a pod
    of an image that runs as a non-root user (the twin's pods share the machine's venv) could
    not read mkstemp's 0600 file and compiled every module it imports at each start.
    """
    target.parent.mkdir(exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(handle)
    try:
        shutil.copyfile(pyc, temp)
        Path(temp).chmod(0o644)
        Path(temp).replace(target)
    except OSError:
        Path(temp).unlink(missing_ok=True)
        return False
    return True


def harvest(venv: Path, uv_cache: Path) -> int:
    """Keep in ``uv_cache`` the bytecode ``venv``'s processes compiled; how many files.

    Files already from the cache (hardlinks), bytecode of sources that are not cache links
    (the project itself, an editable install) and entries that already hold a file of that
    name are left alone.
    """
    archive = uv_cache / ARCHIVE
    sites = sorted(venv.glob("lib/python3.*/site-packages"))
    if not archive.is_dir() or not sites:
        return 0
    index = _entries_by_top_name(archive)
    kept = 0
    for site in sites:
        for folder, _, files in os.walk(site):
            if not folder.endswith("__pycache__"):
                continue
            cache_dir = Path(folder)
            for name in files:
                pyc = cache_dir / name
                if not name.endswith(".pyc") or pyc.stat().st_nlink > 1:
                    continue
                source = cache_dir.parent / f"{name.split('.', 1)[0]}.py"
                try:
                    twin = _cached_twin(source, site, index)
                except OSError:
                    continue
                if twin is None:
                    continue
                target = twin.parent / "__pycache__" / name
                if not target.exists() and _keep(pyc, target):
                    kept += 1
    if kept:
        log.info("kept %d compiled files of %s in the runner's uv cache", kept, venv)
    return kept
