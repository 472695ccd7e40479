"""Where bars come from: the bundled sample, files, S3 and a crypto exchange.

Each source returns :class:`RawItem` objects: the bytes exactly as received, so that ingest can
archive them before anything transforms them. :func:`parse_item` then turns one item into
long-format bars and the rows it rejected. The instrument master and the news events come from
the same places as the bars (:func:`fetch_reference`, :func:`fetch_events`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from pipelines.data.params import DataParams, MarketDefaults
from pipelines.data.sources.formats import Layout, Parsed, parse_table
from pipelines.errors import ConfigError, DataError


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


def parse_item(item: RawItem) -> Parsed:
    """Parse one raw item into long-format bars and its rejected rows."""
    if item.kind == "ohlcv_json":
        from pipelines.data.sources.exchange import parse_candles

        return parse_candles(item.origin or item.name, item.data)
    name = item.origin or item.name
    return parse_table(name, item.data, item.layout, item.instrument or None)


def describe(params: DataParams) -> str:
    """The dataset's source as one stable text (recorded in the ingest state)."""
    if params.source == "sample":
        return f"sample:{params.sample.path}"
    if params.source == "file":
        return f"file:{params.file.path}"
    if params.source == "s3":
        return f"s3://{params.s3.bucket}/{params.s3.prefix}"
    return f"exchange:{params.exchange.exchange}:{params.exchange.timeframe}"


def market_defaults(params: DataParams) -> tuple[MarketDefaults, str]:
    """The source's defaults for instruments its master does not list, and their params key."""
    if params.source == "file":
        return params.file, "data.file"
    if params.source == "s3":
        return params.s3, "data.s3"
    if params.source == "exchange":
        return MarketDefaults(market="crypto"), "data.exchange"
    return MarketDefaults(), "data.sample"


def _files(pattern: str, kind: str, required: bool) -> list[RawItem]:
    from pipelines.data.params import FileSource
    from pipelines.data.sources import files

    try:
        items = files.fetch(FileSource(path=pattern))
    except DataError:
        if required:
            raise
        return []
    return [RawItem(i.name, i.data, kind, origin=i.origin, version=i.version) for i in items]


def fetch_reference(params: DataParams, seen: Mapping[str, str] | None = None) -> list[RawItem]:
    """New or changed instrument-master files of the configured source (none for exchange)."""
    seen = seen or {}
    items: list[RawItem] = []
    if params.source == "sample" and params.sample.reference:
        items = _files(params.sample.reference, "reference", required=True)
    elif params.source == "file" and params.file.reference:
        items = _files(params.file.reference, "reference", required=True)
    elif params.source == "s3" and params.s3.reference_prefix:
        from pipelines.data.sources import s3

        where = params.s3.model_copy(update={"prefix": params.s3.reference_prefix})
        items = [
            RawItem(i.name, i.data, "reference", origin=i.origin, version=i.version)
            for i in s3.fetch(where, seen=seen, required=False)
        ]
    return [i for i in items if seen.get(i.origin) != i.version]


def fetch_events(params: DataParams, seen: Mapping[str, str] | None = None) -> list[RawItem]:
    """New or changed news-event files (``data.events``): a path or glob, or an S3 prefix."""
    seen = seen or {}
    items: list[RawItem] = []
    if params.events.source == "file":
        items = _files(params.events.path, "events", required=True)
    elif params.events.source == "s3":
        from pipelines.data.sources import s3

        where = params.s3.model_copy(update={"prefix": params.events.s3_prefix})
        items = [
            RawItem(i.name, i.data, "events", origin=i.origin, version=i.version)
            for i in s3.fetch(where, seen=seen)
        ]
    return [i for i in items if seen.get(i.origin) != i.version]


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
