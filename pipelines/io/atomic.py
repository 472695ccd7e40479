"""Atomic writes: write to a temporary file beside the target, then rename over it.

A reader never sees a half-written file, and a crash leaves the previous version in place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it over ``target``.

    Args:
        target: Final location of the file.

    Yields:
        A path in the same directory to write to.
    """
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.replace(final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write bytes atomically and return the final path."""
    with atomic_path(target) as tmp, tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(target)


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically and return the final path."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], payload: Any) -> Path:
    """Write JSON (sorted keys, indented, trailing newline) atomically."""
    return write_text(target, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def write_with(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result over ``target``.

    Used for writers that need a path, such as ``DataFrame.to_parquet`` or ``Figure.savefig``.
    Note that a format inferred from the suffix sees the temporary name's ``.tmp`` suffix,
    so the writer should pass the format explicitly.
    """
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)
