"""Instrument partitions of the features stage (pure functions, no I/O).

Features are computed per instrument (every window stays inside one instrument's bars), so the
instruments can be split into ``N`` partitions computed apart, by local processes or by Argo pods,
and merged into exactly the store one process writes: the merge concatenates the partitions in
instrument order and adds the cross-sectional ranks, the only features that need every
instrument at a timestamp.

An instrument's partition is ``crc32(name) mod N``: it never depends on the other instruments, so
a new listing or a corrected history changes one partition's input and only that partition is
recomputed (each partition's output records the digest of what it was computed from).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable
from typing import Any

import pandas as pd

from pipelines.data.features import CROSS_SECTIONAL_PREFIX, KEYS, feature_names
from pipelines.data.params import FeatureParams
from pipelines.errors import ConfigError

PART_FORMAT = "part-{index}-of-{count}"


def parse(text: str, flag: str = "--partition") -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)``.

    Raises:
        ConfigError: Not two integers with ``0 <= K < N``.
    """
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 0 <= int(index) < int(count):
        raise ConfigError(f"{flag} {text!r}: expected K/N with 0 <= K < N (for example 0/4)")
    return int(index), int(count)


def all_of(count: int) -> list[str]:
    """Every partition of ``count``, as the ``K/N`` strings Argo's ``withParam`` fans out."""
    return [f"{index}/{count}" for index in range(count)]


def name(index: int, count: int) -> str:
    """The folder name of partition ``index`` of ``count``."""
    return PART_FORMAT.format(index=index, count=count)


def of(instrument: str, count: int) -> int:
    """The partition of one instrument: stable across runs, machines and instrument lists."""
    return zlib.crc32(instrument.encode("utf-8")) % count


def members(instruments: Iterable[str], index: int, count: int) -> list[str]:
    """The instruments of partition ``index`` of ``count``, sorted."""
    return sorted(i for i in set(instruments) if of(i, count) == index)


def input_digest(bars: pd.DataFrame, calendars: dict[str, str], extra: str = "") -> str:
    """Digest of what one partition is computed from: its bars, calendars and ``extra``."""
    ordered = bars.sort_values(["instrument", "timestamp"], kind="mergesort")
    hashed = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(json.dumps(sorted(calendars.items())).encode())
    digest.update(list(ordered.columns).__repr__().encode())
    digest.update(extra.encode())
    return digest.hexdigest()


def config_digest(settings: dict[str, Any], sources: Iterable[bytes]) -> str:
    """Digest of the settings and code a partition's features depend on."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for source in sources:
        digest.update(hashlib.sha256(source).digest())
    return digest.hexdigest()


def without_ranks(params: FeatureParams) -> FeatureParams:
    """The feature params one partition computes with: cross-sectional ranks come at the merge."""
    return params.model_copy(update={"cross_sectional": False})


def merge_features(parts: list[pd.DataFrame], params: FeatureParams, ohlcv: bool) -> pd.DataFrame:
    """The partitions' features as the single-process store holds them.

    Args:
        parts: Each partition's features, computed with :func:`without_ranks`.
        params: The stage's feature params (with ``cross_sectional`` as configured).
        ohlcv: Whether the bars carry OHLCV columns (the feature list depends on it).

    Returns:
        Rows sorted by instrument then time, the ranks added, columns in the store's order.
    """
    frame = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    frame = frame.sort_values(KEYS[::-1], kind="mergesort").reset_index(drop=True)
    if params.cross_sectional:
        columns = [f"ret_{h}" for h in params.return_horizons]
        ranks = frame.groupby("timestamp", sort=False)[columns].rank(pct=True)
        for column in columns:
            frame[f"{CROSS_SECTIONAL_PREFIX}{column}"] = ranks[column]
    return frame[KEYS + feature_names(params, ohlcv)]


def merge_labels(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The partitions' labels as the single-process stage writes them (instrument, then time)."""
    frame = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    return frame.sort_values(KEYS[::-1], kind="mergesort").reset_index(drop=True)
