"""Validation rules: schema, integrity, anomalies, completeness, and the bundled-data figures."""

from __future__ import annotations

from pathlib import Path

import exchange_calendars as xc
import numpy as np
import pandas as pd
import pytest

from pipelines.data.completeness import completeness_table
from pipelines.data.instruments import made_rows
from pipelines.data.params import MarketDefaults, ValidationParams
from pipelines.data.reference import parse_reference
from pipelines.data.rules import anomaly_failures, check_schema, integrity_failures
from pipelines.data.sources.formats import parse_table
from pipelines.data.validate import validate_bars
from pipelines.errors import DataError

WEEKDAYS = MarketDefaults(market="equity", calendar="24/5", currency="USD")


def _rows(*names: str, start: str = "2000-01-03") -> pd.DataFrame:
    first = {n: pd.Timestamp(start, tz="UTC") for n in names}
    return made_rows(first, WEEKDAYS, "data.file")


def _bundled(repo_root: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    path = repo_root / "data/sample" / name
    master = repo_root / "data/sample/instruments.csv"
    rows, rejects = parse_reference(master.name, master.read_bytes())
    assert rejects.empty
    return parse_table(path.name, path.read_bytes()).bars, rows


def _completeness(stamps: pd.Series, calendar: str, frequency: str, gap: int) -> dict:
    names = pd.Series("X", index=stamps.index)
    return completeness_table(names, stamps, frequency, gap, {"X": calendar})["X"]


def _bars(closes: list[float], instrument: str = "AAA", start: str = "2024-01-01") -> pd.DataFrame:
    stamps = pd.bdate_range(start, periods=len(closes), tz="UTC")
    return pd.DataFrame({"timestamp": stamps, "instrument": instrument, "close": closes})


def _walk(n: int, seed: int = 1) -> list[float]:
    rng = np.random.default_rng(seed)
    return (100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))).round(4).tolist()


def test_schema_requires_utc_timestamps() -> None:
    bars = _bars([1.0, 2.0])
    bars["timestamp"] = bars["timestamp"].dt.tz_localize(None)
    with pytest.raises(DataError, match="bars.parquet: column timestamp: expected tz-aware UTC"):
        check_schema(bars, "bars.parquet")


def test_schema_requires_numeric_prices() -> None:
    bars = _bars([1.0, 2.0]).assign(close=["1", "2"])
    with pytest.raises(DataError, match="column close: expected numbers"):
        check_schema(bars, "x")


def test_integrity_rules_name_each_row() -> None:
    bars = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                ["2024-01-02"] * 2 + ["2024-01-03", "2024-01-04"], utc=True
            ),
            "instrument": ["AAA", "AAA", "AAA", "AAA"],
            "open": [10.0, 10.0, 10.0, 10.0],
            "high": [11.0, 11.5, 9.0, 11.0],
            "low": [9.0, 9.0, 8.0, np.nan],
            "close": [10.5, 10.5, 10.0, np.nan],
        }
    )
    failures = integrity_failures(bars)
    assert failures.loc[2, "rule"] == "ohlc_inconsistent"
    assert (
        failures.loc[3, "rule"] == "missing_value"
        and failures.loc[3, "reason"] == "close is missing"
    )
    # Two rows share a key with different highs: both are quarantined, neither is trusted.
    assert failures.loc[[0, 1], "rule"].tolist() == ["duplicate_bar"] * 2
    assert "different values" in failures.loc[0, "reason"]


def test_two_daily_bars_on_the_same_day_are_duplicates_but_not_hourly() -> None:
    bars = _bars([10.0, 10.0, 11.0])
    bars.loc[1, "timestamp"] = bars.loc[0, "timestamp"] + pd.Timedelta(hours=21)
    assert integrity_failures(bars, "daily")["rule"].tolist() == ["duplicate_bar"] * 2
    assert integrity_failures(bars, "hourly").empty


def test_a_spike_is_quarantined_but_a_lasting_jump_is_kept() -> None:
    closes = _walk(300)
    closes[100] = closes[99] * 10  # a bad print: jumps and comes back
    closes[200:] = [c * 0.5 for c in closes[200:]]  # a genuine crash: stays down
    failures, jumps = anomaly_failures(_bars(closes), ValidationParams())
    assert failures.index.tolist() == [100]
    assert failures.loc[100, "rule"] == "return_outlier"
    assert jumps == 1


def test_stale_prices_flag_the_repeats_only() -> None:
    closes = _walk(60)
    closes[20:32] = [closes[20]] * 12
    failures, _ = anomaly_failures(_bars(closes), ValidationParams(stale_run_length=10))
    assert failures.index.tolist() == list(range(21, 32))
    assert (failures["reason"] == "close unchanged for 12 bars").all()


def test_completeness_lists_long_gaps_only() -> None:
    stamps = pd.bdate_range("2024-01-01", periods=60, tz="UTC")
    kept = stamps.delete([5] + list(range(20, 28)))
    result = _completeness(pd.Series(kept), "24/5", "daily", 5)
    assert result["missing_bars"] == 9 and result["expected_bars"] == 60
    assert result["gaps"] == [
        {
            "from": stamps[20].isoformat(),
            "to": stamps[27].isoformat(),
            "missing_bars": 8,
        }
    ]


def test_hourly_completeness_in_a_24_7_calendar_expects_every_hour() -> None:
    stamps = pd.date_range("2024-01-06", periods=48, freq="h", tz="UTC").delete([10, 11])
    result = _completeness(pd.Series(stamps), "24/7", "hourly", 1)
    assert result["missing_bars"] == 2 and len(result["gaps"]) == 1


def test_exchange_holidays_and_weekends_are_not_missing_but_a_closed_day_bar_is_off() -> None:
    # NYSE, July 2024: the 4th is a holiday, the 3rd closes early; one session (the 9th) lost.
    stamps = pd.DatetimeIndex(xc.get_calendar("XNYS").sessions_in_range("2024-07-01", "2024-07-31"))
    kept = stamps.tz_localize("UTC").delete(5).append(pd.DatetimeIndex(["2024-07-13"], tz="UTC"))
    result = _completeness(pd.Series(kept), "XNYS", "daily", 5)
    assert (result["expected_bars"], result["missing_bars"]) == (22, 1)
    assert result["off_calendar_bars"] == 1  # the Saturday bar: not a session, not a gap filler


def test_report_counts_per_rule_and_instrument() -> None:
    bars = pd.concat([_bars(_walk(30), "AAA"), _bars(_walk(30, 2), "BBB")], ignore_index=True)
    bars.loc[3, "close"] = -1.0
    result = validate_bars(bars, ValidationParams(), "daily", _rows("AAA", "BBB"))
    assert result.report["rules"]["nonpositive_price"] == 1
    assert result.report["instruments"]["AAA"]["quarantined"] == 1
    assert result.report["instruments"]["BBB"]["quarantined"] == 0
    assert result.rejected["input_row"].tolist() == [3]
    assert len(result.valid) == 59


def test_bundled_data_defaults_keep_almost_everything(repo_root: Path) -> None:
    bars, rows = _bundled(repo_root, "sp500_20_daily_close.csv.gz")
    result = validate_bars(bars, ValidationParams(), "daily", rows)
    report = result.report
    assert report["integrity_rejects"] == 0
    # Only RRC's 1990-92 stretch of repeated closes (runs up to 69 days) is quarantined.
    assert report["rules"]["stale_price"] == report["instruments"]["RRC"]["quarantined"]
    assert report["rows_quarantined"] / report["rows_in"] < 0.005
    assert report["rules"]["return_outlier"] == 0
    # Every bar is on its exchange's calendar: the only missing bars are the quarantined ones.
    assert report["completeness"]["off_calendar_bars"] == 0
    assert report["completeness"]["missing_bars"] == report["rows_quarantined"]
    assert report["instruments"]["AAPL"]["calendar"] == "XNAS"


def test_bundled_ohlcv_passes_every_rule(repo_root: Path) -> None:
    bars, rows = _bundled(repo_root, "goog_daily_ohlcv.csv.gz")
    result = validate_bars(bars, ValidationParams(), "daily", rows)
    assert result.report["rows_quarantined"] == 0 and len(result.valid) == 2148
    assert result.report["instruments"]["GOOG"]["completeness"] == 1.0


def test_out_of_order_rows_are_counted_and_kept() -> None:
    bars = _bars(_walk(10))
    bars = pd.concat([bars.iloc[5:], bars.iloc[:5]], ignore_index=True)
    result = validate_bars(bars, ValidationParams(), "daily", _rows("AAA"))
    assert result.report["non_monotonic"] == 5
    assert result.report["instruments"]["AAA"]["non_monotonic"] == 5
    assert len(result.valid) == 10 and result.valid["timestamp"].is_monotonic_increasing


def _calendar_reference(stamps: pd.Series, max_gap_bars: int) -> tuple[int, int, list[tuple]]:
    """The slow, obvious way: the NYSE sessions from the library, and a look for each one."""
    days = pd.DatetimeIndex(stamps.dt.floor("D").unique()).sort_values().tz_localize(None)
    sessions = xc.get_calendar("XNYS", start="1989-01-01").sessions_in_range(days[0], days[-1])
    expected = pd.DatetimeIndex(sessions).tz_localize("UTC")
    missing = ~expected.isin(days.tz_localize("UTC"))
    positions = np.flatnonzero(missing)
    runs = np.split(positions, np.flatnonzero(np.diff(positions) != 1) + 1)
    long_runs = [
        (expected[r[0]].isoformat(), expected[r[-1]].isoformat(), len(r))
        for r in runs
        if len(r) > max_gap_bars
    ]
    return len(expected), int(missing.sum()), long_runs


def test_vectorised_completeness_matches_the_calendar_on_bundled_data(repo_root: Path) -> None:
    bars, _ = _bundled(repo_root, "sp500_20_daily_close.csv.gz")
    bars = bars[bars["instrument"].isin(["RRC", "AAPL", "BAC"])]
    bars = bars[(bars.index % 7 != 3) & (bars.index % 101 > 4)]  # gaps of many lengths
    calendars = {"RRC": "XNYS", "AAPL": "XNYS", "BAC": "XNYS"}
    table = completeness_table(bars["instrument"], bars["timestamp"], "daily", 1, calendars)
    for name, group in bars.groupby("instrument"):
        expected, missing, long_runs = _calendar_reference(group["timestamp"], 1)
        entry = table[str(name)]
        assert (entry["expected_bars"], entry["missing_bars"]) == (expected, missing)
        assert entry["long_gaps"] == len(long_runs) > 20
        listed = [(g["from"], g["to"], g["missing_bars"]) for g in entry["gaps"]]
        assert listed == long_runs[:20]
