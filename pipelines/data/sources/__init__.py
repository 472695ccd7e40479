"""Where bars come from: the bundled sample, files, S3 and a crypto exchange.

Each source returns :class:`RawItem` objects: the bytes exactly as received, so that ingest can
archive them before anything transforms them. :func:`parse_item` then turns one item into
long-format bars.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from pipelines.data.params import DataParams
from pipelines.data.sources.formats import Layout, parse_bars
from pipelines.errors import ConfigError


@dataclass(frozen=True)
class RawItem:
    """One raw input as received.

    Attributes:
        name: Name to archive it under (a relative path, no ``..``).
        data: The bytes as received.
        kind: ``table`` (CSV/Parquet) or ``ohlcv_json`` (exchange candles).
        layout: Table layout hint.
        instrument: Instrument of a single-instrument table.
        origin: Where it came from (path or URL), named in error messages.
        version: Content version (sha256 of a file, ETag of an S3 object); an input whose
            origin and version were already ingested is skipped.
    """

    name: str
    data: bytes = field(repr=False)
    kind: str = "table"
    layout: Layout = "auto"
    instrument: str | None = None
    origin: str = ""
    version: str = ""


def sha256(data: bytes) -> str:
    """Hex sha256 of raw bytes (the version of a file input)."""
    return hashlib.sha256(data).hexdigest()


def parse_item(item: RawItem) -> pd.DataFrame:
    """Parse one raw item into long-format bars."""
    if item.kind == "ohlcv_json":
        from pipelines.data.sources.exchange import parse_candles

        return parse_candles(item.origin or item.name, item.data)
    name = item.origin or item.name
    return parse_bars(name, item.data, item.layout, item.instrument or None)


def fetch(
    params: DataParams,
    last_bars: Mapping[str, pd.Timestamp],
    seen: Mapping[str, str] | None = None,
) -> list[RawItem]:
    """Fetch raw items from the configured source, leaving out inputs already ingested.

    Args:
        params: The ``data`` section of params.yaml.
        last_bars: Last stored bar per instrument (the exchange source resumes after it).
        seen: Version of every input already ingested, by origin.

    Returns:
        The new or changed raw items, in a stable order.
    """
    seen = seen or {}
    if params.source in ("sample", "file"):
        from pipelines.data.sources import files, sample

        if params.source == "sample":
            items = sample.fetch(params.sample)
        else:
            items = files.fetch(params.file)
        return [i for i in items if seen.get(i.origin) != i.version]
    if params.source == "s3":
        from pipelines.data.sources import s3

        return s3.fetch(params.s3, seen=seen)
    from pipelines.data.sources import exchange

    bar = exchange.FREQUENCY_OF_TIMEFRAME.get(params.exchange.timeframe)
    if bar != params.frequency:
        raise ConfigError(
            f"params.yaml: data.exchange.timeframe {params.exchange.timeframe!r} gives "
            f"{bar or 'unsupported'} bars but data.frequency is {params.frequency!r} (expected "
            f"one of {', '.join(f'{k}={v}' for k, v in exchange.FREQUENCY_OF_TIMEFRAME.items())})"
        )
    return exchange.fetch(params.exchange, last_bars)
