"""A crypto exchange's public OHLCV endpoint through ccxt (Binance BTC/USDT by default).

Pagination walks forward from the last stored bar (or ``since`` on the first run), one page of
``page_limit`` candles at a time, sleeping the exchange's rate limit between pages. Network
errors are retried with exponential backoff. The bar still forming is never stored.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pandas as pd

from pipelines.data.params import ExchangeSource
from pipelines.data.sources import RawItem
from pipelines.data.sources.formats import Parsed, to_long
from pipelines.errors import DataError

log = logging.getLogger(__name__)

Candle = list[float]
FREQUENCY_OF_TIMEFRAME = {"1m": "minute", "1h": "hourly", "1d": "daily"}
FetchPage = Callable[[str, str, int, int], list[Candle]]


def instrument_name(symbol: str) -> str:
    """Instrument name of an exchange symbol: ``BTC/USDT`` -> ``BTCUSDT`` (safe in paths)."""
    return symbol.replace("/", "").replace(":", "")


def make_client(params: ExchangeSource) -> Any:
    """A ccxt client; our own loop paces requests, so ccxt's throttle is off."""
    import ccxt

    factory = getattr(ccxt, params.exchange, None)
    if factory is None:
        raise DataError(f"data.exchange.exchange: unknown ccxt exchange {params.exchange!r}")
    return factory({"enableRateLimit": False})


def with_retries(
    call: Callable[[], list[Candle]], what: str, retries: int, backoff: float, sleep: Any
) -> list[Candle]:
    """Call ``call``; retry network errors with exponential backoff, fail after ``retries``."""
    import ccxt

    for attempt in range(retries + 1):
        try:
            return call()
        except ccxt.NetworkError as exc:
            if attempt == retries:
                raise DataError(
                    f"{what}: giving up after {retries + 1} attempts ({type(exc).__name__}: "
                    f"{str(exc)[:200]})"
                ) from None
            delay = backoff * 2**attempt
            log.warning("%s: %s, retry %d in %.1fs", what, type(exc).__name__, attempt + 1, delay)
            sleep(delay)
        except ccxt.BaseError as exc:
            raise DataError(f"{what}: exchange refused the request ({str(exc)[:200]})") from None
    raise AssertionError("unreachable")  # pragma: no cover


def fetch_symbol(
    fetch_page: FetchPage,
    symbol: str,
    params: ExchangeSource,
    since_ms: int,
    timeframe_ms: int,
    now_ms: int,
    pause_s: float,
    sleep: Any = time.sleep,
) -> list[Candle]:
    """Page forward from ``since_ms`` until the present, the last page or ``max_pages``.

    Returns:
        Closed candles ``[ms, open, high, low, close, volume]``, ascending, unique.
    """
    what = f"{params.exchange} {symbol} {params.timeframe}"
    candles: dict[int, Candle] = {}
    since = since_ms
    for page_number in range(params.max_pages):
        if page_number:
            sleep(pause_s)
        page = with_retries(
            partial(fetch_page, symbol, params.timeframe, since, params.page_limit),
            what,
            params.max_retries,
            params.backoff_seconds,
            sleep,
        )
        fresh = [c for c in page if int(c[0]) >= since]
        for candle in fresh:
            if int(candle[0]) + timeframe_ms <= now_ms:
                candles[int(candle[0])] = candle
        log.info("%s: page %d, %d candles from %d", what, page_number + 1, len(fresh), since)
        if not fresh or len(page) < params.page_limit:
            break
        last = int(fresh[-1][0])
        if last + timeframe_ms > now_ms:
            break
        since = last + timeframe_ms
    else:
        log.warning("%s: stopped at data.exchange.max_pages=%d", what, params.max_pages)
    return [candles[k] for k in sorted(candles)]


def fetch(
    params: ExchangeSource,
    last_bars: Mapping[str, pd.Timestamp],
    client: Any = None,
    sleep: Any = time.sleep,
    now: pd.Timestamp | None = None,
) -> list[RawItem]:
    """Fetch new closed candles for every symbol, resuming after the last stored bar.

    Args:
        params: ``data.exchange`` of params.yaml.
        last_bars: Last stored bar per instrument.
        client: A ccxt exchange (built from params when None).
        sleep: Sleep function (tests pass a recorder).
        now: The present (default: the clock), to drop the bar still forming.

    Returns:
        One JSON raw item per symbol that has new candles.
    """
    client = client if client is not None else make_client(params)
    timeframe_ms = int(client.parse_timeframe(params.timeframe)) * 1000
    now_ms = int((now or pd.Timestamp.now(tz="UTC")).timestamp() * 1000)
    pause_s = float(getattr(client, "rateLimit", 0) or 0) / 1000.0
    start_ms = int(pd.Timestamp(params.since).timestamp() * 1000)
    items = []
    for symbol in params.symbols:
        instrument = instrument_name(symbol)
        last = last_bars.get(instrument)
        since = int(last.timestamp() * 1000) + timeframe_ms if last is not None else start_ms
        candles = fetch_symbol(
            client.fetch_ohlcv, symbol, params, since, timeframe_ms, now_ms, pause_s, sleep
        )
        if not candles:
            log.info("%s %s: nothing new since %s", params.exchange, symbol, last)
            continue
        payload = {
            "exchange": params.exchange,
            "symbol": symbol,
            "instrument": instrument,
            "timeframe": params.timeframe,
            "candles": candles,
        }
        name = f"{params.exchange}_{instrument}_{params.timeframe}.json"
        items.append(RawItem(name=name, data=json.dumps(payload).encode(), kind="ohlcv_json"))
    return items


def parse_candles(name: str, data: bytes) -> Parsed:
    """Turn an archived candle payload into long-format bars (a non-finite value: rejected)."""
    try:
        payload = json.loads(data.decode("utf-8"))
        candles = payload["candles"]
        instrument = str(payload["instrument"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{name}: not a candle payload ({type(exc).__name__}: {exc})") from None
    columns = ["timestamp", "open", "high", "low", "close", "volume"]
    frame = pd.DataFrame([list(c)[:6] for c in candles], columns=columns)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms", utc=True)
    frame[columns[1:]] = frame[columns[1:]].astype("float64")
    frame.insert(1, "instrument", instrument)
    return to_long(frame, name, "long", parquet=True)
