"""Read raw bytes as a table: CSV (gzip or not, UTF-8, every cell as text) or Parquet.

A file that cannot be read as a table at all is one :class:`DataError` line naming the file
and what was expected.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import PurePosixPath

import pandas as pd

from pipelines.errors import DataError


def _decompress(name: str, data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error):
        raise DataError(
            f"{name}: truncated or corrupt gzip stream (expected a complete .gz file)"
        ) from None


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{name}: line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}; expected UTF-8 CSV)"
        ) from None


def is_parquet(name: str, data: bytes) -> bool:
    """True for Parquet input (by suffix or magic bytes)."""
    return PurePosixPath(name).suffix.lower() in {".parquet", ".pq"} or data[:4] == b"PAR1"


def read_table(name: str, data: bytes) -> pd.DataFrame:
    """Read CSV (gzip or not, UTF-8) or Parquet bytes as a raw table, text cells for CSV."""
    if is_parquet(name, data):
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several unrelated types
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{name}: not a readable Parquet file ({reason})") from None
    text = _decode(name, _decompress(name, data))
    if not text.strip():
        raise DataError(f"{name}: empty file (expected a header line and at least one bar)")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise DataError(f"{name}: not a readable CSV file ({str(exc).strip()})") from None
    if frame.empty:
        raise DataError(f"{name}: no bars after the header line (expected at least one row)")
    return frame
