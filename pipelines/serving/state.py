"""Per-instrument state of the service: bar validation, the buffer of recent bars, paper returns.

Pure code: no I/O, no clock. Online features are computed by
:func:`pipelines.data.instrument_features.latest_features` on the buffer, through the same kernels
(:func:`pipelines.data.instrument_features.instrument_feature_arrays`) as the offline pipeline.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from pipelines.data.instrument_features import BarArrays
from pipelines.data.params import FeatureParams

OHLCV_FEATURES = {"range_21", "volume_z_21"}
OPTIONAL_FIELDS = ("open", "high", "low", "volume")
SHOWN_CHARS = 40
MAX_TIMESTAMP_CHARS = 64


def shown(value: Any) -> str:
    """Client input for an error message: short, never echoed unbounded, never recursive.

    Containers are named by type (their ``repr`` could be megabytes or nest past the recursion
    limit), long strings are cut to ``SHOWN_CHARS`` and huge integers described by their size.
    """
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return f"{value[:SHOWN_CHARS]!r}... ({len(value)} characters)"
    return repr(value)


class BadRequest(Exception):
    """The request is malformed: answered with a 4xx and this message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Bar:
    """One validated bar."""

    timestamp: pd.Timestamp
    close: float
    high: float | None = None
    low: float | None = None
    volume: float | None = None


def parse_json_body(raw: bytes) -> Any:
    """The request body as JSON.

    orjson is the fast path. The standard parser is the fallback because it also reads the
    NaN/Infinity literals and integers beyond float range (10**400 written out) that some
    clients send, so that those bars get their specific 422 naming the field. Nesting deeper
    than orjson's limit (1024) is refused without the fallback, whose recursion it would exhaust.

    Raises:
        BadRequest: 400 when the body is not JSON (the message never quotes the body).
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
    if not reason.startswith("depth limit exceeded"):
        try:
            return json.loads(raw)
        except (ValueError, RecursionError, UnicodeDecodeError):
            pass  # ValueError: JSONDecodeError, or an integer of more than 4300 digits
    raise BadRequest(
        400, f"body: expected a JSON object with instrument and bars (not valid JSON: {reason})"
    )


def required_bars(params: FeatureParams, ohlcv: bool) -> int:
    """Bars of history the last row's features need (the longest window plus one step)."""
    windows = [
        *params.return_horizons,
        *params.volatility_windows,
        *params.momentum_windows,
        *params.zscore_windows,
        params.rsi_window,
    ]
    if ohlcv:
        windows.append(21)
    return max(windows) + 1


def _number(row: dict[str, Any], key: str, index: int, positive: bool) -> float:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(422, f"bars[{index}].{key}: expected a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range, e.g. 10**400 written out in full
        number = math.inf
    if not math.isfinite(number):
        raise BadRequest(422, f"bars[{index}].{key}: expected a finite number, got {shown(value)}")
    if positive and number <= 0:
        raise BadRequest(422, f"bars[{index}].{key}: expected a positive price, got {shown(value)}")
    if number < 0:
        raise BadRequest(
            422, f"bars[{index}].{key}: expected a non-negative value, got {shown(value)}"
        )
    return number


def _timestamp(value: Any, index: int) -> pd.Timestamp:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise BadRequest(422, f"bars[{index}].timestamp: expected an ISO-8601 time")
    if isinstance(value, str) and len(value) > MAX_TIMESTAMP_CHARS:
        raise BadRequest(
            422,
            f"bars[{index}].timestamp: expected an ISO-8601 time of at most "
            f"{MAX_TIMESTAMP_CHARS} characters",
        )
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        stamp = None
    if not isinstance(stamp, pd.Timestamp) or pd.isna(stamp):
        raise BadRequest(422, f"bars[{index}].timestamp: expected an ISO-8601 time")
    return stamp


def parse_bars(raw: Any, need_ohlcv: bool, max_bars: int) -> list[Bar]:
    """Validate the ``bars`` field of a request.

    Raises:
        BadRequest: Not a non-empty list of bars with a timestamp and finite positive prices,
            in increasing time order.
    """
    if not isinstance(raw, list) or not raw:
        raise BadRequest(422, "bars: expected a non-empty list of bars")
    if len(raw) > max_bars:
        raise BadRequest(413, f"bars: at most {max_bars} bars per request, got {len(raw)}")
    bars: list[Bar] = []
    for i, row in enumerate(raw):
        if not isinstance(row, dict):
            raise BadRequest(422, f"bars[{i}]: expected an object with timestamp and close")
        for key in ("timestamp", "close"):
            if key not in row:
                raise BadRequest(422, f"bars[{i}].{key}: required field is missing")
        stamp = _timestamp(row["timestamp"], i)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        opt = {k: _number(row, k, i, k != "volume") for k in OPTIONAL_FIELDS if k in row}
        if need_ohlcv and not {"high", "low", "volume"} <= opt.keys():
            raise BadRequest(422, f"bars[{i}]: this model needs high, low and volume")
        close = _number(row, "close", i, positive=True)
        if bars and stamp <= bars[-1].timestamp:
            raise BadRequest(422, f"bars[{i}].timestamp: expected times in increasing order")
        bars.append(Bar(stamp, close, opt.get("high"), opt.get("low"), opt.get("volume")))
    return bars


@dataclass
class InstrumentState:
    """Recent bars of one instrument and the position currently held."""

    capacity: int
    bars: list[Bar] = field(default_factory=list)
    position: float = 0.0

    def append(self, new: list[Bar]) -> list[float]:
        """Add bars after the last one held; return the paper returns they realise.

        A request may repeat bars this state already holds (a client that sends its recent
        window every time, so that a fresh pod is warm at once): bars up to the last one held
        are skipped when they agree with the held ones (or are not held: older than the buffer,
        or missed), and refused when a held bar at that time has another close. A request that
        brings no new bar is a retry when it ends at the last bar held, else it goes back in
        time and is refused.

        Raises:
            BadRequest: A bar goes back in time or conflicts with a held one (409).
        """
        if self.bars:
            new = self._fresh(new)
        realised: list[float] = []
        for bar in new:
            if self.bars and self.position != 0.0:
                step = math.log(bar.close) - math.log(self.bars[-1].close)
                realised.append(self.position * step)
            self.bars.append(bar)
        if len(self.bars) > self.capacity:
            del self.bars[: len(self.bars) - self.capacity]
        return realised

    def _fresh(self, new: list[Bar]) -> list[Bar]:
        """The bars of a request after the last one held, once its overlap is checked."""
        last = self.bars[-1]
        cut = next((i for i, b in enumerate(new) if b.timestamp > last.timestamp), len(new))
        overlap = new[:cut]
        if cut == len(new) and overlap[-1].timestamp != last.timestamp:
            raise BadRequest(
                409,
                f"bar at {overlap[-1].timestamp.isoformat()} is not after the last one held "
                f"({last.timestamp.isoformat()})",
            )
        if not overlap:  # the usual request: only new bars, nothing to compare
            return new
        held = {b.timestamp: b.close for b in self.bars}
        for bar in overlap:
            close = held.get(bar.timestamp)
            if close is not None and close != bar.close:
                raise BadRequest(
                    409,
                    f"bar at {bar.timestamp.isoformat()} has close {bar.close!r}, the bar held "
                    f"at that time {close!r}",
                )
        return new[cut:]

    def arrays(self, last: int) -> BarArrays:
        """The last ``last`` bars as the arrays :func:`latest_features` expects."""
        rows = self.bars[-last:]
        close = np.array([b.close for b in rows], dtype="float64")
        if not rows or any(b.high is None or b.low is None or b.volume is None for b in rows):
            return BarArrays(close)
        return BarArrays(
            close,
            np.array([b.high for b in rows], dtype="float64"),
            np.array([b.low for b in rows], dtype="float64"),
            np.array([b.volume for b in rows], dtype="float64"),
        )

    def frame(self, last: int) -> pd.DataFrame:
        """The last ``last`` bars as the frame ``instrument_features`` expects."""
        rows = self.bars[-last:]
        nanos = np.fromiter((b.timestamp.value for b in rows), dtype="int64", count=len(rows))
        data: dict[str, Any] = {
            "timestamp": pd.to_datetime(nanos, utc=True),
            "close": np.array([b.close for b in rows], dtype="float64"),
        }
        if rows and all(b.high is not None for b in rows):
            data["high"] = [b.high for b in rows]
            data["low"] = [b.low for b in rows]
            data["volume"] = [b.volume for b in rows]
        return pd.DataFrame(data)
