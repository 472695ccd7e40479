"""CSV or Parquet files, long or wide, given as a path or a glob."""

from __future__ import annotations

import glob
from collections import Counter
from pathlib import Path

from pipelines.data.params import FileSource
from pipelines.data.sources import RawItem, sha256
from pipelines.errors import DataError


def fetch(params: FileSource) -> list[RawItem]:
    """Read every file matching ``params.path`` (a path or a glob), sorted by path.

    Args:
        params: ``data.file`` of params.yaml.

    Returns:
        One raw item per file, named by its base name; when two files share a base name, each
        gets its position as a prefix so they do not collide in the archive.
    """
    # glob.glob, unlike Path.glob, accepts absolute patterns as well as relative ones.
    matches = glob.glob(params.path, recursive=True)  # noqa: PTH207
    files = sorted(Path(p) for p in matches if Path(p).is_file())
    if not files:
        raise DataError(f"{params.path}: no input file matches (expected data.file.path)")
    counts = Counter(p.name for p in files)
    items = []
    for index, path in enumerate(files):
        data = path.read_bytes()
        items.append(
            RawItem(
                name=path.name if counts[path.name] == 1 else f"{index:04d}_{path.name}",
                data=data,
                layout=params.layout,
                instrument=params.instrument,
                origin=str(path),
                version=sha256(data),
            )
        )
    return items
