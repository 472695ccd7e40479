"""Feature store stage: validated bars in, features (partitioned by instrument) and labels out.

The features are computed in ``scale.data_partitions`` instrument partitions
(:mod:`pipelines.data.feature_parts`) and merged here into the store.

Layout under ``paths.features``::

    instrument=<NAME>/part-0.parquet   timestamp, instrument, feature columns
    _metadata.json                     feature list, schema version, input data hash, span

Labels go to ``paths.labels`` (one Parquet file) with each sample's label end time. The
metadata also records each instrument's calendar (from the instrument master) and the trading
year those calendars give (:func:`pipelines.data.calendars.annualisation`), which the backtest
annualises with and the model card prints.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import Params
from pipelines.data import feature_parts, partitions
from pipelines.data.calendars import annualisation
from pipelines.data.freshness import bar_calendars
from pipelines.data.instrument_features import has_ohlcv_columns
from pipelines.errors import DataError
from pipelines.io import atomic
from pipelines.io.digest import file_sha256

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
METADATA_FILE = "_metadata.json"


def build_metadata(
    features: pd.DataFrame, names: list[str], input_hash: str, has_ohlcv: bool
) -> dict[str, Any]:
    """Describe a feature table: columns, schema version, input hash and time span."""
    return {
        "schema_version": SCHEMA_VERSION,
        "features": names,
        "has_ohlcv": has_ohlcv,
        "input_sha256": input_hash,
        "instruments": sorted(features["instrument"].astype(str).unique().tolist()),
        "rows": len(features),
        "start": str(features["timestamp"].min()),
        "end": str(features["timestamp"].max()),
    }


def write_store(features: pd.DataFrame, metadata: dict[str, Any], root: str | Path) -> Path:
    """Write the partitioned store into a temporary folder and swap it in atomically.

    Args:
        features: Output of :func:`compute_features`.
        metadata: Output of :func:`build_metadata`.
        root: The store folder (replaced as a whole).

    Returns:
        The store folder.
    """
    final = Path(root)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for instrument, group in features.groupby("instrument", sort=True):
        part = staging / f"instrument={instrument}"
        part.mkdir()
        group.reset_index(drop=True).to_parquet(part / "part-0.parquet", index=False)
    atomic.write_json(staging / METADATA_FILE, metadata)
    previous = final.with_name(f".{final.name}.old")
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    shutil.rmtree(previous, ignore_errors=True)
    return final


def read_store(root: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the whole feature store back as one frame plus its metadata."""
    folder = Path(root)
    meta_path = folder / METADATA_FILE
    if not meta_path.exists():
        raise DataError(
            f"{meta_path}: feature store metadata not found; run `pipelines data features`"
        )
    metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    parts = sorted(folder.glob("instrument=*/part-*.parquet"))
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return frame, metadata


def main(params: Params, params_path: Path | None = None, partition: str | None = None) -> int:
    """The features stage: bring the partitions up to date, merge them into the store.

    Args:
        params: The typed params.
        params_path: The params file, for the partitions' processes (``scale.data_workers``).
        partition: ``"K/N"``: compute that partition only (one pod of Argo's fan-out).
    """
    started = time.perf_counter()
    if partition is not None:
        index, count = partitions.parse(partition)
        feature_parts.compute(params, index, count)
        return 0
    source = Path(params.paths.validated)
    if not source.exists():
        raise DataError(f"{source}: validated bars not found; run `pipelines data validate`")
    bars = pd.read_parquet(source)
    if bars.empty:
        raise DataError(f"{source}: no rows to build features from")
    log.info(
        "features: %d bars, %d instruments, %d partition(s)",
        len(bars),
        bars["instrument"].nunique(),
        params.scale.data_partitions,
    )
    feature_parts.ensure(params, params_path, bars)
    last, calendar_of = bar_calendars(params, bars)
    ohlcv = has_ohlcv_columns(bars)
    tables, label_parts = feature_parts.read_all(params)
    features = partitions.merge_features(tables, params.features, ohlcv)
    labels = partitions.merge_labels(label_parts)
    names = [c for c in features.columns if c not in ("timestamp", "instrument")]
    metadata = build_metadata(features, names, file_sha256(source), ohlcv)
    metadata["label_horizon"] = params.label.horizon
    metadata["frequency"] = params.data.frequency
    metadata["calendars"] = dict(sorted(calendar_of.items()))
    metadata["annualisation"] = annualisation(
        list(calendar_of.values()), params.data.frequency, pd.Timestamp(bars["timestamp"].max())
    )
    metadata["events"] = params.features.events.model_dump()
    write_store(features, metadata, params.paths.features)
    atomic.write_with(
        params.paths.labels, lambda tmp: labels.to_parquet(tmp, index=False, engine="pyarrow")
    )
    log.info(
        "features: wrote %d rows x %d features and %d labels in %.1fs",
        len(features),
        len(names),
        len(labels),
        time.perf_counter() - started,
    )
    return 0
