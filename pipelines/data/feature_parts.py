"""The features stage's partitions on disk: compute one, keep it while its inputs hold, read all.

Layout under ``paths.feature_parts``, one folder per partition::

    part-<K>-of-<N>/features.parquet   per-instrument features (no cross-sectional ranks)
    part-<K>-of-<N>/labels.parquet     its labels
    part-<K>-of-<N>/key.json           the digests it was computed from, and its instruments

A partition whose ``key.json`` matches its current inputs (bars, calendars, events, settings and
the feature code) is kept as it is: a re-run recomputes only the partitions whose inputs changed.
``pipelines data features --partition K/N`` computes one (an Argo pod of the fan-out does this);
:func:`ensure` computes the missing or stale ones in up to ``scale.data_workers`` processes.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from pipelines.config import Params
from pipelines.data import (
    _windows,
    event_features,
    events,
    features,
    instrument_features,
    partitions,
)
from pipelines.data.event_features import EventInput
from pipelines.data.freshness import bar_calendars
from pipelines.errors import ConfigError, DataError
from pipelines.io import atomic
from pipelines.io.digest import file_sha256
from pipelines.io.workers import pipelines_argv, run_all

log = logging.getLogger(__name__)

KEY_FILE = "key.json"
FEATURES_FILE = "features.parquet"
LABELS_FILE = "labels.parquet"
CODE = (features, instrument_features, _windows, event_features, partitions)


def _key(params: Params, bars: pd.DataFrame, calendars: dict[str, str]) -> dict[str, Any]:
    events_file = params.paths.events if params.features.events.enabled else None
    settings = {
        "features": params.features.model_dump(),
        "label": params.label.model_dump(),
        "frequency": params.data.frequency,
    }
    code = [Path(str(module.__file__)).read_bytes() for module in CODE]
    return {
        "input": partitions.input_digest(
            bars, calendars, file_sha256(events_file) if events_file else ""
        ),
        "config": partitions.config_digest(settings, code),
        "instruments": sorted(calendars),
    }


def read_bars(source: Path, index: int, count: int, bars: pd.DataFrame | None) -> pd.DataFrame:
    """The validated bars of partition ``index`` of ``count``.

    From ``bars`` when the caller holds them all (one process), else from ``source``, reading
    only the partition's instruments (a pod of the fan-out).
    """
    if count == 1:
        return pd.read_parquet(source) if bars is None else bars
    if bars is not None:
        mine = partitions.members(bars["instrument"].astype(str).unique(), index, count)
        return bars[bars["instrument"].isin(mine)]
    names = pq.read_table(source, columns=["instrument"]).column(0).unique().to_pylist()
    mine = partitions.members([str(n) for n in names], index, count)
    if not mine:
        return pd.read_parquet(source).iloc[0:0]
    return pd.read_parquet(source, filters=[("instrument", "in", mine)])


def compute(
    params: Params, index: int, count: int, bars: pd.DataFrame | None = None
) -> bool:
    """Compute partition ``index`` of ``count`` unless it is current; True when computed.

    ``bars``: every validated bar, when the caller has read them (else read here).

    Raises:
        DataError: The validated bars are missing, or an instrument has no reference row.
    """
    source = Path(params.paths.validated)
    if not source.exists():
        raise DataError(f"{source}: validated bars not found; run `pipelines data validate`")
    bars = read_bars(source, index, count, bars)
    last, calendar_of = bar_calendars(params, bars)
    unknown = sorted(set(last) - set(calendar_of))
    if unknown:
        raise DataError(
            f"{params.paths.reference}: no reference row for instrument {unknown[0]} at its "
            "latest bar (expected validate to have quarantined such bars; run it again)"
        )
    folder = Path(params.paths.feature_parts) / partitions.name(index, count)
    key = _key(params, bars, calendar_of)
    if _read_key(folder) == key:
        log.info("features: partition %d/%d is current (%d instruments)", index, count, len(last))
        return False
    staging = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if len(bars):
        table = features.compute_features(
            bars, partitions.without_ranks(params.features), event_input(params, calendar_of)
        )
        table.to_parquet(staging / FEATURES_FILE, index=False)
        labels = features.compute_labels(bars, params.label)
        labels.to_parquet(staging / LABELS_FILE, index=False)
    atomic.write_json(staging / KEY_FILE, key)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    log.info(
        "features: partition %d/%d computed: %d bars, %d instruments",
        index,
        count,
        len(bars),
        len(last),
    )
    return True


def event_input(params: Params, calendars: dict[str, str]) -> EventInput | None:
    """The stored news events for the event features (None when they are off).

    Raises:
        ConfigError: Event features are on but no events source is configured.
    """
    if not params.features.events.enabled:
        return None
    if params.data.events.source == "none":
        raise ConfigError(
            "params.yaml: features.events.enabled is true but data.events.source is 'none' "
            "(expected file or s3)"
        )
    stored = events.read_stored(params.paths.events)
    return EventInput(stored, calendars, params.data.frequency)


def _read_key(folder: Path) -> Any:
    try:
        return json.loads((folder / KEY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ensure(params: Params, params_path: Path | None, bars: pd.DataFrame | None = None) -> None:
    """Bring every partition up to date: in this process, or in ``data_workers`` processes.

    ``bars``: every validated bar, already read (the partitions computed here use them).

    Raises:
        DataError: A partition's process failed (named, with its exit status).
    """
    count, workers = params.scale.data_partitions, params.scale.data_workers
    root = Path(params.paths.feature_parts)
    wanted = {partitions.name(k, count) for k in range(count)}
    if root.exists():
        for stale in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in wanted):
            shutil.rmtree(stale)
    if workers == 1 or count == 1 or params_path is None:
        for index in range(count):
            compute(params, index, count, bars)
        return
    log.info("features: %d partitions in %d processes", count, min(workers, count))
    commands = [
        pipelines_argv(params_path, "data", "features", "--partition", part)
        for part in partitions.all_of(count)
    ]
    codes = run_all(commands, workers)
    failed = [f"{k}/{count} (exit {c})" for k, c in enumerate(codes) if c != 0]
    if failed:
        raise DataError(f"features: partition {', '.join(failed)} failed; see its log above")


def read_all(params: Params) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Every partition's features and labels (partitions without instruments give nothing).

    Raises:
        DataError: A partition is missing (not computed, or an interrupted run).
    """
    count = params.scale.data_partitions
    root = Path(params.paths.feature_parts)
    tables: list[pd.DataFrame] = []
    labels: list[pd.DataFrame] = []
    for index in range(count):
        folder = root / partitions.name(index, count)
        if not (folder / KEY_FILE).exists():
            raise DataError(
                f"{folder}: partition {index}/{count} not computed; run `pipelines data "
                f"features --partition {index}/{count}` (or `pipelines data features`)"
            )
        if (folder / FEATURES_FILE).exists():
            tables.append(pd.read_parquet(folder / FEATURES_FILE))
            labels.append(pd.read_parquet(folder / LABELS_FILE))
    if not tables:
        raise DataError(f"{root}: no partition holds any bars")
    return tables, labels
