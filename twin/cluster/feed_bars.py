"""The market feed's bars: real held-out closes after a training end, repeated forward.

See :mod:`twin.cluster.feed`. ``HeldOut`` yields, bar after bar, every instrument's window of its
last ``lookback`` bars; when the held-out bars are exhausted they are repeated, time-shifted by
whole spans (plus one bar) and rescaled to continue from the last close sent, so every return is
a real held-out return and time only moves forward. ``bundle_training_end`` reads
``train_span[1]`` of a model bundle from the twin's S3 or a file.
"""

from __future__ import annotations

import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.registry.bundle import load_bundle


class FeedError(Exception):
    """The feed cannot start (no held-out bar, no model, unreadable data)."""


class HeldOut:
    """The bars to send: real closes after ``after``, repeated forward when exhausted."""

    def __init__(
        self, bars: pd.DataFrame, instruments: list[str], after: pd.Timestamp, lookback: int
    ) -> None:
        wide = bars.pivot(index="timestamp", columns="instrument", values="close").sort_index()
        missing = [i for i in instruments if i not in wide.columns]
        if missing:
            raise FeedError(f"no bars for instrument(s) {', '.join(missing)} in the feed's data")
        wide = wide[instruments]
        self.held = wide[wide.index > after]
        if len(self.held) < 2:
            raise FeedError(f"fewer than 2 bars after the model's training end {after.date()}")
        history = wide[wide.index <= after].tail(lookback)
        self.windows: dict[str, deque[tuple[pd.Timestamp, float]]] = {
            i: deque(
                ((pd.Timestamp(str(t)), float(c)) for t, c in history[i].dropna().items()),
                maxlen=lookback,
            )
            for i in instruments
        }
        self.step = self.held.index[1] - self.held.index[0]
        self.span = self.held.index[-1] - self.held.index[0] + self.step
        self.position = 0
        self.passes = 0
        self.scale = dict.fromkeys(instruments, 1.0)

    def skip_to_after(self, end: pd.Timestamp) -> None:
        """Move past ``end`` (a newer model was trained up to it)."""
        while self.position < len(self.held) and self._time(self.position) <= end:
            self.position += 1

    def _time(self, i: int) -> pd.Timestamp:
        return pd.Timestamp(self.held.index[i]) + self.span * self.passes

    def next(self) -> dict[str, list[tuple[pd.Timestamp, float]]]:
        """The next bar of every instrument: its window of bars, newest last."""
        if self.position >= len(self.held):
            for inst in self.scale:
                first, last = self.held[inst].dropna().iloc[[0, -1]]
                self.scale[inst] *= float(last) / float(first)
            self.passes += 1
            self.position = 1  # the first bar of a pass continues from the last one sent
        stamp = self._time(self.position)
        row = self.held.iloc[self.position]
        self.position += 1
        out = {}
        for inst, window in self.windows.items():
            close = row[inst]
            if pd.isna(close):
                continue
            window.append((stamp, float(close) * self.scale[inst]))
            out[inst] = list(window)
        return out


def utc(value: Any) -> pd.Timestamp:
    """A time in UTC (naive times are taken as UTC)."""
    stamp = pd.Timestamp(str(value))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def bundle_training_end(uri: str, env: dict[str, str]) -> pd.Timestamp | None:
    """``train_span[1]`` of the bundle at ``uri`` (s3:// through the twin's S3, or a file)."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(uri.removeprefix("file://"))
        if uri.startswith("s3://"):
            import boto3

            bucket, _, key = uri.removeprefix("s3://").partition("/")
            client = boto3.client(
                "s3",
                endpoint_url=env.get("AWS_ENDPOINT_URL") or env.get("MLFLOW_S3_ENDPOINT_URL"),
                aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "testing"),
                aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "testing"),
                region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            )
            local = Path(tmp) / "bundle.json"
            client.download_file(bucket, key, str(local))
        span = load_bundle(local).metadata.get("train_span")
    return utc(span[1]) if span else None
