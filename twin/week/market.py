"""The market-data vendor of the week: real bundled bars dropped into the landing bucket by night.

The bundled daily closes (20 US stocks, 1990-2022) are cut at fixed dates: each night the
vendor drops one object holding the bars after the previous cut up to the night's cut, as a
vendor's daily file would (the first night carries the history). Bars after the last cut are
held out: the market feed replays them to the deployed services.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pandas as pd

SAMPLE = Path("data/sample/sp500_20_daily_close.csv.gz")
# The vendor's instrument master, delivered beside the bars (data.s3.reference_prefix).
REFERENCE = Path("data/sample/instruments.csv")
REFERENCE_KEY = "reference/instruments.csv"
# Night n drops bars up to CUTS[n] (inclusive); the rest of 2022 is the held-out live market.
CUTS = ("2022-03-31", "2022-06-30", "2022-08-15", "2022-09-30")


@dataclass(frozen=True)
class Drop:
    """One object the vendor put into the landing bucket."""

    key: str
    rows: int
    first: str
    last: str


def wide_bars(root: Path) -> pd.DataFrame:
    """The bundled wide table (one ``Date`` column, one column per instrument)."""
    return pd.read_csv(root / SAMPLE)


def night_slice(bars: pd.DataFrame, night: int) -> pd.DataFrame:
    """The rows the vendor delivers on night ``night`` (1-based)."""
    dates = bars["Date"]
    upper = dates <= CUTS[night - 1]
    lower = dates > CUTS[night - 2] if night > 1 else pd.Series(True, index=bars.index)
    return bars[upper & lower]


def held_out(bars: pd.DataFrame) -> pd.DataFrame:
    """Bars no night delivers: what the feed replays as the live market."""
    return bars[bars["Date"] > CUTS[-1]]


def s3_client(env: Mapping[str, str]) -> Any:
    """A boto3 S3 client of the twin's moto (endpoint and dummy credentials from ``env``)."""
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
    )


def drop_night(root: Path, env: Mapping[str, str], night: int) -> Drop:
    """Put night ``night``'s object into the landing bucket (``TWIN_BUCKET_RAW``/prefix)."""
    rows = night_slice(wide_bars(root), night)
    bucket, prefix = env["TWIN_BUCKET_RAW"], env["TWIN_RAW_PREFIX"]
    key = f"{prefix}daily_close_{CUTS[night - 1]}.csv"
    buffer = io.StringIO()
    rows.to_csv(buffer, index=False)
    s3 = s3_client(env)
    if night == 1:
        s3.put_object(Bucket=bucket, Key=REFERENCE_KEY, Body=(root / REFERENCE).read_bytes())
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue().encode("utf-8"))
    return Drop(key, len(rows) * (rows.shape[1] - 1), str(rows["Date"].min()), CUTS[night - 1])


def drop_corrupt(env: Mapping[str, str]) -> str:
    """A truncated gzip object, as a vendor's failed upload leaves one (the failed night)."""
    key = f"{env['TWIN_RAW_PREFIX']}daily_close_broken.csv.gz"
    s3_client(env).put_object(
        Bucket=env["TWIN_BUCKET_RAW"], Key=key, Body=b"\x1f\x8b\x08\x00truncated"
    )
    return key
