"""Bad input ends in one clear line and a non-zero exit, and the raw input is kept.

A file that cannot be read at all is refused whole; a row that cannot be parsed is quarantined
with its line and reason and the rest of the file is kept (see test_row_quarantine.py).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

GOOD_LONG = "timestamp,instrument,close\n2024-01-02,AAA,10.0\n2024-01-03,AAA,10.5\n"
EQUITY_FILE = {"source": "file", "file": {"path": "incoming/bars.csv", "market": "equity"}}


def _truncated_parquet() -> bytes:
    import io

    buffer = io.BytesIO()
    pd.DataFrame({"timestamp": ["2024-01-02"], "instrument": ["A"], "close": [1.0]}).to_parquet(
        buffer
    )
    return buffer.getvalue()[:-40]


# name, file name, bytes, expected fragment of the one error line
HARD_CASES = [
    (
        "wrong_columns",
        "bars.csv",
        b"when,what,price\n2024-01-02,AAA,10\n",
        "missing required column 'timestamp'",
    ),
    (
        "missing_close",
        "bars.csv",
        b"timestamp,instrument,open\n2024-01-02,AAA,10\n",
        "missing required column 'close'",
    ),
    (
        "ohlc_without_close",
        "goog_daily.csv",
        b"Date,Open,High,Low,Volume\n2024-01-02,10,11,9,100\n",
        "cannot tell the layout: columns Date, Open, High, Low, Volume are field names",
    ),
    ("empty_file", "bars.csv", b"", "empty file"),
    ("header_only", "bars.csv", b"timestamp,instrument,close\n", "no bars after the header"),
    (
        "not_utf8",
        "bars.csv",
        "timestamp,instrument,close\n2024-01-02,Soci\u00e9t\u00e9,10\n".encode("latin-1"),
        "line 2 is not UTF-8 text",
    ),
    (
        "truncated_gzip",
        "bars.csv.gz",
        gzip.compress(GOOD_LONG.encode() * 50)[:-30],
        "truncated or corrupt gzip",
    ),
    ("truncated_parquet", "bars.parquet", _truncated_parquet(), "not a readable Parquet file"),
]


@pytest.mark.parametrize(
    ("case", "file_name", "payload", "expected"), HARD_CASES, ids=[c[0] for c in HARD_CASES]
)
def test_hard_rule_failures_stop_ingest_in_one_line(
    project: Path,
    make_params: Callable[..., str],
    run_cli: Callable[..., tuple[int, list[str]]],
    case: str,
    file_name: str,
    payload: bytes,
    expected: str,
) -> None:
    incoming = project / "incoming" / file_name
    incoming.parent.mkdir()
    incoming.write_bytes(payload)
    source = {"path": f"incoming/{file_name}", "market": "equity"}
    params = make_params(data={"source": "file", "file": source})

    code, errors = run_cli("--params", params, "data", "ingest")

    assert code != 0
    assert len(errors) == 1, errors
    assert file_name in errors[0] and expected in errors[0], errors[0]
    archived = list((project / "data" / "raw").glob(f"*/{file_name}"))
    assert len(archived) == 1 and archived[0].read_bytes() == payload
    assert incoming.read_bytes() == payload
    assert not (project / "data" / "ingested" / "bars.parquet").exists()


@pytest.mark.parametrize(("case", "file_name", "payload", "expected"), HARD_CASES[:4])
def test_validate_input_reports_the_same_hard_failures(
    project: Path,
    make_params: Callable[..., str],
    run_cli: Callable[..., tuple[int, list[str]]],
    case: str,
    file_name: str,
    payload: bytes,
    expected: str,
) -> None:
    bad = project / file_name
    bad.write_bytes(payload)
    params = make_params(data=EQUITY_FILE)
    code, errors = run_cli("--params", params, "data", "validate", "--input", str(bad))
    assert code != 0 and len(errors) == 1 and expected in errors[0]
    assert bad.read_bytes() == payload


ROW_CASES = [
    (
        "empty_close",
        "timestamp,instrument,close\n2024-01-02,AAA,10\n2024-01-03,AAA,\n2024-01-04,AAA,11\n",
        "missing_value",
        "close is missing",
    ),
    (
        "negative_price",
        "timestamp,instrument,close\n2024-01-02,AAA,10\n2024-01-03,AAA,-1.5\n2024-01-04,AAA,11\n",
        "nonpositive_price",
        "close -1.5 <= 0",
    ),
    (
        "duplicated_bar",
        "timestamp,instrument,close\n2024-01-02,AAA,10\n2024-01-03,AAA,10.5\n"
        "2024-01-03,AAA,10.5\n2024-01-04,AAA,11\n",
        "duplicate_bar",
        "same instrument and daily slot",
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "rule", "expected"), ROW_CASES, ids=[c[0] for c in ROW_CASES]
)
def test_row_rule_failures_are_quarantined_and_fail_the_stage(
    project: Path,
    make_params: Callable[..., str],
    run_cli: Callable[..., tuple[int, list[str]]],
    case: str,
    text: str,
    rule: str,
    expected: str,
) -> None:
    incoming = project / "incoming" / "bars.csv"
    incoming.parent.mkdir()
    incoming.write_text(text, encoding="utf-8")
    params = make_params(data=EQUITY_FILE)

    assert run_cli("--params", params, "data", "ingest")[0] == 0
    code, errors = run_cli("--params", params, "data", "validate")

    assert code != 0
    assert len(errors) == 1 and "bars.parquet" in errors[0] and expected in errors[0], errors
    assert "AAA 2024-01-03" in errors[0]
    rejected = pd.read_parquet(project / "data/quarantine/validate/rejected.parquet")
    assert rejected["rule"].tolist() == [rule]
    assert rejected["reason"].str.contains(expected).all()
    valid = pd.read_parquet(project / "data/validated/bars.parquet")
    assert len(valid) == text.count("\n") - 2  # all rows but the header and the bad one
    archived = list((project / "data/raw").glob("*/bars.csv"))
    assert [p.read_text(encoding="utf-8") for p in archived] == [text]


def test_validate_input_csv_names_the_line(
    project: Path, make_params: Callable[..., str], run_cli: Callable[..., tuple[int, list[str]]]
) -> None:
    bad = project / "bars.csv"
    bad.write_text(ROW_CASES[1][1], encoding="utf-8")
    params = make_params(data=EQUITY_FILE)
    code, errors = run_cli("--params", params, "data", "validate", "--input", str(bad))
    assert code != 0 and len(errors) == 1
    assert "bars.csv: 1 row(s) failed integrity rules, first at line 3" in errors[0]


def test_a_tolerance_lets_the_rest_go_on(
    project: Path, make_params: Callable[..., str], run_cli: Callable[..., tuple[int, list[str]]]
) -> None:
    bad = project / "bars.csv"
    bad.write_text(ROW_CASES[1][1], encoding="utf-8")
    params = make_params(data=EQUITY_FILE, validation={"max_integrity_rejects": 1})
    code, errors = run_cli("--params", params, "data", "validate", "--input", str(bad))
    assert (code, errors) == (0, [])
    assert len(pd.read_parquet(project / "data/validated/bars.parquet")) == 2
