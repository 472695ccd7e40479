"""The bundled real data in ``data/sample`` (the embedded default source)."""

from __future__ import annotations

from pathlib import Path

from pipelines.data.params import SampleSource
from pipelines.data.sources import RawItem, sha256
from pipelines.errors import DataError


def fetch(params: SampleSource) -> list[RawItem]:
    """Read the bundled file as raw bytes.

    Args:
        params: ``data.sample`` of params.yaml.

    Returns:
        One raw item named after the file.
    """
    path = Path(params.path)
    if not path.is_file():
        raise DataError(f"{path}: bundled sample file not found (expected data.sample.path)")
    data = path.read_bytes()
    return [
        RawItem(
            name=path.name,
            data=data,
            instrument=params.instrument,
            origin=str(path),
            version=sha256(data),
        )
    ]
