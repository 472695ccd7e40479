"""The instrument master: parsed row by row, ingested with the bars, history kept, required."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pipelines.config import load_params
from pipelines.data import ingest, reference
from pipelines.data.instruments import made_rows
from pipelines.data.params import MarketDefaults
from pipelines.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "markets"
RunCli = Callable[..., tuple[int, list[str]]]
BARS = "timestamp,instrument,close\n2024-01-02,AAA,10\n2024-01-03,AAA,11\n2024-01-02,BBB,5\n"


def test_bad_master_rows_are_rejected_with_line_and_reason_the_rest_kept() -> None:
    path = FIXTURES / "instruments_v2.csv"
    rows, rejects = reference.parse_reference(path.name, path.read_bytes())
    assert sorted(set(rows["instrument"])) == ["AAA", "BBB", "III"]
    reasons = dict(zip(rejects["line"], rejects["reason"], strict=True))
    assert reasons[5].startswith("column asset_class: expected one of equity, fx, crypto, future")
    assert "column calendar: expected an exchange_calendars name" in reasons[6]
    assert reasons[7] == "column currency: expected a code such as USD or USDT, got 'usd'"
    assert reasons[8].startswith("column tick_size: expected a positive number")
    assert reasons[9].startswith("column valid_from: expected a date")
    assert reasons[10] == "valid_to is not after valid_from"
    assert reasons[12] == "validity overlaps the row at line 11"
    assert sorted(reasons) == [5, 6, 7, 8, 9, 10, 12]


def test_missing_required_column_is_one_line() -> None:
    with pytest.raises(Exception, match="instruments.csv: missing required column 'calendar'"):
        reference.parse_reference("instruments.csv", b"instrument,asset_class,currency\nA,fx,USD\n")


def test_updates_are_ingested_with_the_bars_and_history_is_kept(
    project: Path, make_params: Callable[..., str]
) -> None:
    (project / "incoming").mkdir()
    (project / "incoming/bars.csv").write_text(BARS, encoding="utf-8")
    shutil.copy(FIXTURES / "instruments_v1.csv", project / "incoming/instruments.csv")
    source = {"path": "incoming/bars.csv", "reference": "incoming/instruments.csv"}
    params = load_params(make_params(data={"source": "file", "file": source}))
    night1, night2 = pd.Timestamp("2024-01-04T02:00Z"), pd.Timestamp("2024-01-05T02:00Z")
    assert ingest.main(params, now=night1) == 0
    shutil.copy(FIXTURES / "instruments_v2.csv", project / "incoming/instruments.csv")
    assert ingest.main(params, now=night2) == 0

    history = pd.read_csv(project / "data/reference/history.csv", keep_default_na=False)
    aaa = history[history["instrument"] == "AAA"]
    assert aaa[["tick_size", "valid_to", "recorded_at", "superseded_at"]].values.tolist() == [
        [0.01, "", night1.isoformat(), night2.isoformat()],  # what was believed on night 1
        [0.01, "2024-01-04", night2.isoformat(), ""],
        [0.05, "", night2.isoformat(), ""],
    ]
    current = pd.read_csv(project / "data/reference/instruments.csv")
    assert current["instrument"].tolist() == ["AAA", "AAA", "BBB", "III"]
    assert list(current.columns) == reference.COLUMNS
    rejected = pd.read_parquet(sorted((project / "data/quarantine/ingest").glob("rejected-*"))[-1])
    assert set(rejected["kind"]) == {"reference"} and len(rejected) == 7
    archived = sorted((project / "data/raw").glob("*/reference/instruments.csv"))
    assert [p.read_bytes() for p in archived] == [
        (FIXTURES / n).read_bytes() for n in ("instruments_v1.csv", "instruments_v2.csv")
    ]


def test_bars_without_a_valid_master_row_are_quarantined(
    project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> None:
    (project / "incoming").mkdir()
    early = BARS + "2019-12-31,AAA,9\n2024-01-02,ZZZ,1\n"
    (project / "incoming/bars.csv").write_text(early, encoding="utf-8")
    shutil.copy(FIXTURES / "instruments_v1.csv", project / "incoming/instruments.csv")
    source = {"path": "incoming/bars.csv", "reference": "incoming/instruments.csv"}
    params = make_params(data={"source": "file", "file": source})
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    code, errors = run_cli("--params", params, "data", "validate")
    assert code != 0 and len(errors) == 1
    assert "2 row(s) failed integrity rules" in errors[0]
    assert "no instrument-master row valid at this bar" in errors[0]
    rejected = pd.read_parquet(project / "data/quarantine/validate/rejected.parquet")
    assert sorted(zip(rejected["instrument"], rejected["rule"], strict=True)) == [
        ("AAA", "no_reference"),
        ("ZZZ", "no_reference"),
    ]


def test_a_one_file_import_gets_rows_from_its_market() -> None:
    first = {
        "EURUSD": pd.Timestamp("2024-03-03T22:00Z"),
        "USDJPY": pd.Timestamp("2024-03-04T00:00Z"),
    }
    rows = made_rows(first, MarketDefaults(market="fx"), "data.file")
    assert rows[["instrument", "calendar", "currency"]].values.tolist() == [
        ["EURUSD", "FX", "USD"],
        ["USDJPY", "FX", "JPY"],
    ]
    assert rows["valid_from"].tolist() == [
        pd.Timestamp("2024-03-03", tz="UTC"),
        pd.Timestamp("2024-03-04", tz="UTC"),
    ]
    futures = made_rows({"ES": first["EURUSD"]}, MarketDefaults(market="future"), "data.file")
    assert futures[["calendar", "currency"]].values.tolist() == [["CMES", "USD"]]
    london = MarketDefaults(market="equity", calendar="XLON")
    with pytest.raises(ConfigError, match=r"data.file.currency: needed to make a reference row"):
        made_rows({"VOD": first["EURUSD"]}, london, "data.file")
    with pytest.raises(ConfigError, match="data.s3.calendar: unknown calendar 'MOON'"):
        made_rows(first, MarketDefaults(market="fx", calendar="MOON"), "data.s3")


def test_the_bundled_master_ingests_once_and_then_is_unchanged(
    project: Path, make_params: Callable[..., str], repo_root: Path
) -> None:
    sample = {
        "path": str(repo_root / "data/sample/goog_daily_ohlcv.csv.gz"),
        "reference": str(repo_root / "data/sample/instruments.csv"),
    }
    params = load_params(make_params(data={"source": "sample", "sample": sample}))
    assert ingest.main(params, now=pd.Timestamp("2024-01-04T02:00Z")) == 0
    first = (project / "data/reference/history.csv").read_bytes()
    history = reference.read(project / "data/reference")
    assert len(history) == 41 and history["superseded_at"].isna().all()
    aapl = history[history["instrument"] == "AAPL"]
    assert aapl["tick_size"].isna().tolist() == [True, False]  # pre-decimal tick not recorded
    # The same master again (a changed copy elsewhere would be read): nothing superseded.
    state = project / "data/ingested/state.json"
    state.write_text(state.read_text().replace(sample["reference"], "elsewhere"), "utf-8")
    assert ingest.main(params, now=pd.Timestamp("2024-01-05T02:00Z")) == 0
    assert (project / "data/reference/history.csv").read_bytes() == first
