"""What ingest brings in with the bars: the instrument master and the news events.

Both come from the configured source (see :func:`pipelines.data.sources.fetch_reference` and
:func:`pipelines.data.sources.fetch_events`), are archived raw with the bars, and are parsed
row by row: bad rows go to the ingest quarantine with their line and reason, the rest is kept.
The master keeps its history (:mod:`pipelines.data.reference`); instruments that no master
lists get rows from the source's ``market`` params when it names one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.data import events, reference
from pipelines.data.instruments import made_rows
from pipelines.data.params import MarketDefaults
from pipelines.data.sources import RawItem
from pipelines.data.sources.formats import empty_rejects
from pipelines.io import atomic

log = logging.getLogger(__name__)


def _concat(frames: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    parts = [f for f in frames if not f.empty]
    return pd.concat(parts, ignore_index=True) if parts else empty


def ingest_reference(
    items: list[RawItem],
    folder: str | Path,
    now: pd.Timestamp,
    first_bars: Mapping[str, pd.Timestamp],
    defaults: MarketDefaults,
    where: str,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Merge master updates and rows made for unlisted instruments; write the master.

    Args:
        items: Raw master files fetched this run.
        folder: ``paths.reference``.
        now: Ingest time (the ``recorded_at`` of new rows).
        first_bars: First bar of every instrument of the dataset after this ingest.
        defaults: The source's ``market`` params for instruments no master lists.
        where: Their params key, for messages.

    Returns:
        Rejected rows and a summary (instruments whose rows changed or were made).
    """
    history = reference.read(folder)
    rejects, updates = [], []
    for item in items:
        rows, bad = reference.parse_reference(item.origin or item.name, item.data)
        log.info(
            "ingest: instrument master %s: %d rows, %d rejected", item.name, len(rows), len(bad)
        )
        updates.append(rows)
        rejects.append(bad)
    incoming = _concat(updates, pd.DataFrame(columns=reference.COLUMNS))
    history, changed = reference.merge(history, incoming, now) if len(incoming) else (history, [])
    listed = set(reference.current(history)["instrument"])
    unlisted = {k: v for k, v in first_bars.items() if k not in listed}
    made = made_rows(unlisted, defaults, where)
    if len(made):
        history, _ = reference.merge(history, made, now)
    if changed or len(made) or not (Path(folder) / reference.HISTORY_FILE).exists():
        reference.write(folder, history)
    still = sorted(set(unlisted) - set(made["instrument"]))
    if still:
        log.warning(
            "ingest: %d instrument(s) without reference data, first %s (their bars will be "
            "quarantined by validate: add them to the instrument master or set %s.market)",
            len(still),
            still[0],
            where,
        )
    summary = {"changed": changed, "made": sorted(made["instrument"]), "unlisted": still}
    return _concat(rejects, empty_rejects()), summary


def ingest_events(items: list[RawItem], path: str | Path) -> tuple[pd.DataFrame, int]:
    """Parse event files, add new events to the stored table; return rejects and the count added."""
    stored = events.read_stored(path)
    rejects, batches = [], []
    for item in items:
        rows, bad = events.parse_events(item.origin or item.name, item.data)
        log.info("ingest: events %s: %d rows, %d rejected", item.name, len(rows), len(bad))
        batches.append(rows)
        rejects.append(bad)
    table, added = events.merge(stored, _concat(batches, events.empty()))
    if added or not Path(path).exists():
        atomic.write_with(path, lambda tmp: table.to_parquet(tmp, index=False))
    return _concat(rejects, empty_rejects()), added
