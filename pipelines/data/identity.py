"""Dataset identity: a workspace holds one dataset, from the sources it was built from.

The ingest state records, for the stored bars, their frequency and each source with the
instruments it brought. Pointing an existing workspace at another source (or frequency) is
refused with one line, so hourly FX bars are never appended to stored daily stocks by
accident; ``pipelines data ingest --add-instruments`` adds another source's instruments on
purpose (an instrument keeps coming from the one source that brought it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipelines.errors import DataError

ADD_FLAG = "pipelines data ingest --add-instruments"


def _owner(dataset: dict[str, Any]) -> dict[str, str]:
    return {i: src for src, names in dataset.get("sources", {}).items() for i in names}


def check_source(
    dataset: dict[str, Any] | None, source: str, frequency: str, where: str, add: bool
) -> None:
    """Refuse a source or frequency the stored bars did not come from.

    Args:
        dataset: The state's ``dataset`` entry (None: nothing recorded yet).
        source: The configured source (:func:`pipelines.data.sources.describe`).
        frequency: ``data.frequency``.
        where: The state file, named in the message.
        add: Whether the user asked to add instruments from another source.

    Raises:
        DataError: The workspace holds another dataset.
    """
    if not dataset or not dataset.get("sources"):
        return
    held = sorted(dataset["sources"])
    count = len(_owner(dataset))
    if dataset.get("frequency") != frequency:
        raise DataError(
            f"{where}: this workspace holds {dataset.get('frequency')} bars ({count} "
            f"instruments from {', '.join(held)}), but data.frequency is {frequency}: refusing to "
            "mix frequencies (use a fresh workspace for the new dataset)"
        )
    if source not in dataset["sources"] and not add:
        raise DataError(
            f"{where}: this workspace holds {dataset.get('frequency')} bars of {count} "
            f"instruments from {', '.join(held)}, but data.source now reads {source}: refusing "
            f"to mix datasets (use a fresh workspace, or `{ADD_FLAG}` to add its instruments)"
        )


def record(
    dataset: dict[str, Any] | None,
    source: str,
    frequency: str,
    instruments: Iterable[str],
    where: str,
) -> dict[str, Any]:
    """The dataset entry after an ingest from ``source`` of ``instruments``.

    Raises:
        DataError: An instrument already comes from another source.
    """
    owner = _owner(dataset or {})
    names = sorted(set(instruments))
    taken = [(i, owner[i]) for i in names if owner.get(i, source) != source]
    if taken:
        name, other = taken[0]
        raise DataError(
            f"{where}: instrument {name} already comes from {other}; {source} may add new "
            f"instruments only ({len(taken)} clash(es); rename them or use a fresh workspace)"
        )
    sources = {k: list(v) for k, v in (dataset or {}).get("sources", {}).items()}
    sources[source] = sorted(set(sources.get(source, [])) | set(names))
    return {"frequency": frequency, "sources": dict(sorted(sources.items()))}
