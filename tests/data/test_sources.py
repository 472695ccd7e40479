"""Sources: files (long, wide, glob, Parquet, single-instrument OHLCV), S3 on moto, exchange."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import ccxt
import pandas as pd
import pytest

from pipelines.data.params import ExchangeSource, FileSource
from pipelines.data.sources import exchange, files, parse_item
from pipelines.data.sources.formats import parse_table
from pipelines.errors import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
LONG = "timestamp,instrument,close\n2024-01-02,AAA,10\n2024-01-02,BBB,20\n2024-01-03,AAA,11\n"
WIDE = "Date,AAA,BBB\n2024-01-02,10,\n2024-01-03,11,21\n"


def test_long_csv_becomes_utc_long_bars() -> None:
    bars = parse_table("bars.csv", LONG.encode()).bars
    assert list(bars.columns) == ["timestamp", "instrument", "close"]
    assert str(bars["timestamp"].dt.tz) == "UTC"
    assert bars["close"].dtype == "float64"
    assert bars["instrument"].tolist() == ["AAA", "BBB", "AAA"]


def test_offsets_are_converted_to_utc() -> None:
    text = "timestamp,instrument,close\n2024-01-02T10:00:00+02:00,AAA,10\n"
    bars = parse_table("bars.csv", text.encode()).bars
    assert bars["timestamp"].iloc[0] == pd.Timestamp("2024-01-02T08:00:00Z")


def test_wide_csv_melts_and_drops_empty_cells() -> None:
    bars = parse_table("wide.csv", WIDE.encode()).bars
    assert sorted(zip(bars["instrument"], bars["close"], strict=True)) == [
        ("AAA", 10.0),
        ("AAA", 11.0),
        ("BBB", 21.0),
    ]


def test_wide_tickers_that_look_like_fields_keep_their_names() -> None:
    text = b"Date,LOW,HIGH\n2024-01-02,200.5,10\n"
    # Only field names and no close: a single-instrument file missing close, or two tickers?
    with pytest.raises(DataError, match="cannot tell the layout: columns Date, LOW, HIGH"):
        parse_table("wide.csv", text)
    bars = parse_table("wide.csv", text, layout="wide").bars
    assert sorted(bars["instrument"]) == ["HIGH", "LOW"]
    # A column that cannot be a field makes the file certainly wide, tickers kept as named.
    bars = parse_table("wide.csv", b"Date,LOW,HD\n2024-01-02,200.5,10\n").bars
    assert sorted(bars["instrument"]) == ["HD", "LOW"]


def test_single_instrument_ohlcv_file_is_named_after_the_file(repo_root: Path) -> None:
    path = repo_root / "data/sample/goog_daily_ohlcv.csv.gz"
    bars = parse_table(path.name, path.read_bytes()).bars
    assert set(bars["instrument"]) == {"GOOG"}
    assert {"open", "high", "low", "close", "volume"} <= set(bars.columns)
    assert len(bars) == 2148


def test_file_glob_reads_every_match_in_order(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "bars.csv").write_text(LONG, encoding="utf-8")
    (tmp_path / "b" / "bars.csv").write_text(WIDE, encoding="utf-8")
    items = files.fetch(FileSource(path=str(tmp_path / "*" / "bars.csv")))
    assert [i.name for i in items] == ["0000_bars.csv", "0001_bars.csv"]
    assert [len(parse_item(i).bars) for i in items] == [3, 3]


def test_parquet_long_with_naive_timestamps(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-02", "2024-01-03"]),
            "symbol": ["AAA", "AAA"],
            "close": [1, 2],
        }
    )
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    items = files.fetch(FileSource(path=str(path)))
    bars = parse_item(items[0]).bars
    assert str(bars["timestamp"].dt.tz) == "UTC" and bars["close"].tolist() == [1.0, 2.0]


def test_no_match_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no input file matches"):
        files.fetch(FileSource(path=str(tmp_path / "*.csv")))


@pytest.mark.slow
def test_s3_source_through_moto(
    moto_server: str,
    aws_env: None,
    project: Path,
    make_params: Callable[..., str],
    run_cli: Callable[..., tuple[int, list[str]]],
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket="bars-src")
    s3.put_object(Bucket="bars-src", Key="daily/long.csv", Body=LONG.encode())
    s3.put_object(Bucket="bars-src", Key="daily/wide.csv", Body=WIDE.replace("AAA", "CCC"))
    s3.put_object(Bucket="bars-src", Key="other/ignored.csv", Body=b"junk")
    source = {
        "bucket": "bars-src",
        "prefix": "daily/",
        "endpoint_url": moto_server,
        "market": "equity",
    }
    params = make_params(data={"source": "s3", "s3": source})

    assert run_cli("--params", params, "data", "ingest") == (0, [])

    bars = pd.read_parquet(project / "data/ingested/bars.parquet")
    assert sorted(bars["instrument"].unique()) == ["AAA", "BBB", "CCC"]
    assert len(bars) == 6
    archived = sorted(p.name for p in (project / "data/raw").glob("*/*"))
    assert archived == ["long.csv", "wide.csv"]

    # The next night only the new object is downloaded (ETags of the others are in the state).
    s3.put_object(
        Bucket="bars-src", Key="daily/next.csv", Body=b"date,symbol,close\n2024-01-04,AAA,12\n"
    )
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    archived = sorted(p.name for p in (project / "data/raw").glob("*/*"))
    assert archived == ["long.csv", "next.csv", "wide.csv"]
    assert len(pd.read_parquet(project / "data/ingested/bars.parquet")) == 7


@pytest.mark.slow
def test_s3_missing_bucket_is_one_line(
    moto_server: str,
    aws_env: None,
    make_params: Callable[..., str],
    run_cli: Callable[..., tuple[int, list[str]]],
) -> None:
    source = {"bucket": "no-such-bucket", "endpoint_url": moto_server}
    code, errors = run_cli(
        "--params", make_params(data={"source": "s3", "s3": source}), "data", "ingest"
    )
    assert code != 0 and len(errors) == 1 and "s3://no-such-bucket/bars/" in errors[0]


# ------------------------------------------------------------------ exchange (recorded candles)

HOUR_MS = 3_600_000


@pytest.fixture
def recorded() -> list[list[float]]:
    doc = json.loads((FIXTURES / "binance_btcusdt_1h.json").read_text(encoding="utf-8"))
    return [list(c) for c in doc["candles"]]


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch, recorded: list[list[float]]) -> dict[str, Any]:
    """Replace the HTTP call of ccxt's binance.fetch_ohlcv by the recorded candles."""
    calls: dict[str, Any] = {"since": [], "fail_first": 0}
    calls["error"] = ccxt.RequestTimeout("binance GET /api/v3/klines timed out")

    def fetch_ohlcv(
        self: Any, symbol: str, timeframe: str, since: int, limit: int
    ) -> list[list[float]]:
        assert (symbol, timeframe) == ("BTC/USDT", "1h")
        calls["since"].append(since)
        if calls["fail_first"]:
            calls["fail_first"] -= 1
            raise calls["error"]
        return [c for c in recorded if c[0] >= since and c[0] <= calls["now"]][:limit]

    calls["now"] = recorded[-1][0]
    monkeypatch.setattr(ccxt.binance, "fetch_ohlcv", fetch_ohlcv)
    return calls


def test_exchange_paginates_retries_and_drops_the_forming_bar(
    replay: dict[str, Any], recorded: list[list[float]]
) -> None:
    start = int(recorded[0][0])
    replay["fail_first"] = 1
    now = pd.Timestamp(start + 22 * HOUR_MS + HOUR_MS // 2, unit="ms", tz="UTC")
    replay["now"] = now.timestamp() * 1000
    sleeps: list[float] = []
    params = ExchangeSource(page_limit=10, backoff_seconds=0.5, since="2024-01-01T00:00:00Z")

    items = exchange.fetch(params, {}, sleep=sleeps.append, now=now)

    bars = parse_item(items[0]).bars
    assert len(bars) == 22  # candles 0..21 closed; candle 22 is still forming at `now`
    assert bars["timestamp"].is_monotonic_increasing and set(bars["instrument"]) == {"BTCUSDT"}
    assert replay["since"] == [start, start, start + 10 * HOUR_MS, start + 20 * HOUR_MS]
    assert sleeps == [0.5, 0.05, 0.05]  # one backoff, then binance's 50 ms between pages


def test_exchange_rate_limit_is_retried_but_a_refusal_is_not(replay: dict[str, Any]) -> None:
    sleeps: list[float] = []
    replay.update(fail_first=2, error=ccxt.RateLimitExceeded("429 Too Many Requests"))
    assert exchange.fetch(ExchangeSource(), {}, sleep=sleeps.append)
    assert sleeps[:2] == [1.0, 2.0]
    sleeps.clear()
    replay.update(fail_first=1, error=ccxt.BadSymbol("binance does not have market symbol"))
    with pytest.raises(DataError, match="exchange refused the request"):
        exchange.fetch(ExchangeSource(), {}, sleep=sleeps.append)
    assert sleeps == []


def test_exchange_resumes_after_the_last_stored_bar(
    replay: dict[str, Any], recorded: list[list[float]]
) -> None:
    last = pd.Timestamp(int(recorded[21][0]), unit="ms", tz="UTC")
    now = pd.Timestamp(int(recorded[-1][0]) + HOUR_MS, unit="ms", tz="UTC")
    items = exchange.fetch(
        ExchangeSource(page_limit=10), {"BTCUSDT": last}, sleep=lambda _: None, now=now
    )
    assert replay["since"][0] == int(recorded[22][0])
    assert len(parse_item(items[0]).bars) == 3


def test_exchange_gives_up_after_retries_with_backoff(replay: dict[str, Any]) -> None:
    replay["fail_first"] = 99
    sleeps: list[float] = []
    params = ExchangeSource(max_retries=3, backoff_seconds=1.0)
    with pytest.raises(DataError, match=r"binance BTC/USDT 1h: giving up after 4 attempts"):
        exchange.fetch(params, {}, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0, 4.0]


def test_exchange_ingest_twice_appends_nothing_new(
    replay: dict[str, Any],
    project: Path,
    make_params: Callable[..., str],
    run_cli: Callable[..., tuple[int, list[str]]],
    recorded: list[list[float]],
) -> None:
    source = {"source": "exchange", "frequency": "hourly", "exchange": {"page_limit": 10}}
    params = make_params(data=source)
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    bars = pd.read_parquet(project / "data/ingested/bars.parquet")
    assert len(bars) == len(recorded)
    assert replay["since"][-1] == int(recorded[-1][0]) + HOUR_MS
    assert len(list((project / "data/raw").iterdir())) == 1  # nothing fetched, nothing archived
    assert run_cli("--params", params, "data", "validate") == (0, [])


def test_exchange_timeframe_must_match_the_bar_frequency(
    make_params: Callable[..., str], run_cli: Callable[..., tuple[int, list[str]]]
) -> None:
    params = make_params(data={"source": "exchange", "frequency": "daily"})
    code, errors = run_cli("--params", params, "data", "ingest")
    assert code != 0 and len(errors) == 1
    assert (
        "data.exchange.timeframe '1h' gives hourly bars but data.frequency is 'daily'" in errors[0]
    )
