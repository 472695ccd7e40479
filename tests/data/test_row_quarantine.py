"""Row-level quarantine: a bad row is kept aside with its line and reason, the rest goes on.

Also: one parse path for ingest and ``validate --input``, future bars, params cross-checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import load_params, parse_params
from pipelines.data import ingest
from pipelines.data.rules import integrity_failures
from pipelines.errors import ConfigError

RunCli = Callable[..., tuple[int, list[str]]]
HEADER = "timestamp,instrument,close,volume\n"
GOOD = "2024-01-02,AAA,10,100\n2024-01-03,AAA,11,120\n"

# name, file, text, line of the bad row, fragment of its reason, bars kept
ROWS = [
    ("timestamp", "bars.csv", HEADER + GOOD + "2024-01-0x,AAA,12,90\n", 4, "column timestamp", 2),
    ("cell", "bars.csv", HEADER + "2024-01-02,AAA,10,100\n2024-01-03,AAA,abc,1\n", 3,
     "column close: expected a number, got 'abc'", 1),
    ("infinite", "bars.csv", HEADER + GOOD + "2024-01-04,AAA,12,inf\n", 4,
     "column volume: expected a finite number, got 'inf'", 2),
    ("blank_instrument", "bars.csv", HEADER + GOOD + "2024-01-04, ,12,1\n", 4,
     "column instrument: expected a name", 2),
    ("wide_cell", "wide.csv", "Date,AAA,BBB\n2024-01-02,10,20\n2024-01-03,10.5,n/a?\n", 3,
     "column BBB: expected a number, got 'n/a?'", 3),
    ("wide_empty_column", "wide.csv", "Date,AAA,BBB\n2024-01-02,10,\n2024-01-03,11,\n", 1,
     "column BBB is empty on every line", 2),
]  # fmt: skip


def _file_params(make_params: Callable[..., str], name: str, **extra: object) -> str:
    source = {"path": f"incoming/{name}", "market": "equity"}
    return make_params(data={"source": "file", "file": source}, **extra)


@pytest.mark.parametrize(
    ("case", "name", "text", "line", "reason", "kept"), ROWS, ids=[r[0] for r in ROWS]
)
def test_a_bad_row_is_quarantined_with_its_line_and_the_rest_is_kept(
    project: Path,
    make_params: Callable[..., str],
    run_cli: RunCli,
    case: str,
    name: str,
    text: str,
    line: int,
    reason: str,
    kept: int,
) -> None:
    (project / "incoming").mkdir()
    (project / "incoming" / name).write_text(text, encoding="utf-8")
    params = _file_params(make_params, name)

    assert run_cli("--params", params, "data", "ingest") == (0, [])

    assert len(pd.read_parquet(project / "data/ingested/bars.parquet")) == kept
    rejected = pd.read_parquet(next((project / "data/quarantine/ingest").glob("rejected-*")))
    assert rejected["line"].tolist() == [line] and rejected["kind"].tolist() == ["bars"]
    assert reason in rejected["reason"].iloc[0] and rejected["file"].iloc[0].endswith(name)
    # Validate counts the rows the ingest kept aside: the batch is not silently clean.
    code, errors = run_cli("--params", params, "data", "validate")
    assert code != 0 and len(errors) == 1 and "the latest ingest" in errors[0]
    tolerant = _file_params(make_params, name, validation={"max_integrity_rejects": 1})
    assert run_cli("--params", tolerant, "data", "validate") == (0, [])


def test_a_future_bar_is_quarantined_and_never_blocks_later_ingests(
    project: Path, make_params: Callable[..., str]
) -> None:
    incoming = project / "incoming" / "bars.csv"
    incoming.parent.mkdir()
    incoming.write_text(HEADER + GOOD + "2099-01-01,AAA,99,1\n", encoding="utf-8")
    params = load_params(_file_params(make_params, "bars.csv"))

    assert ingest.main(params, now=pd.Timestamp("2024-01-04T02:00Z")) == 0
    stored = pd.read_parquet(project / "data/ingested/bars.parquet")
    assert stored["timestamp"].max() == pd.Timestamp("2024-01-03", tz="UTC")
    rejected = pd.read_parquet(next((project / "data/quarantine/ingest").glob("rejected-*")))
    assert rejected["reason"].iloc[0].startswith("future bar: 2099-01-01T00:00:00+00:00 is after")

    incoming.write_text(HEADER + GOOD + "2024-01-04,AAA,12,1\n2099-01-01,AAA,99,1\n", "utf-8")
    assert ingest.main(params, now=pd.Timestamp("2024-01-05T02:00Z")) == 0
    stored = pd.read_parquet(project / "data/ingested/bars.parquet")
    assert stored["timestamp"].max() == pd.Timestamp("2024-01-04", tz="UTC")
    assert not list((project / "data/quarantine/ingest").glob("revisions-*"))  # not "late"


def test_validate_rules_catch_future_and_infinite_bars() -> None:
    bars = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-02", "2024-01-03", "2030-01-01"], utc=True),
            "instrument": "AAA",
            "close": [10.0, np.inf, 11.0],
        }
    )
    failures = integrity_failures(bars, "daily", now=pd.Timestamp("2024-01-04", tz="UTC"))
    assert failures["rule"].to_dict() == {1: "non_finite", 2: "future_bar"}
    assert failures.loc[1, "reason"] == "close inf is not a finite number"


def test_validate_input_parses_like_ingest_parquet_and_instrument_name_included(
    project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> None:
    frame = pd.DataFrame(
        {
            "Date": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]),
            "Open": [10.0, 11.0, 12.0],
            "High": [11.0, 12.0, 13.0],
            "Low": [9.5, 10.5, 11.5],
            "Close": [10.5, 11.5, 12.5],
            "Volume": [100.0, np.inf, 90.0],
        }
    )
    (project / "incoming").mkdir()
    frame.to_parquet(project / "incoming/acme.parquet")
    source = {"path": "incoming/acme.parquet", "instrument": "ACME", "market": "equity"}
    params = make_params(data={"source": "file", "file": source})

    code, errors = run_cli(
        "--params", params, "data", "validate", "--input", "incoming/acme.parquet"
    )
    assert code != 0 and len(errors) == 1
    assert "first at row 2 (ACME): column volume: expected a finite number, got 'inf'" in errors[0]
    checked = pd.read_parquet(project / "data/validated/bars.parquet")
    assert checked["instrument"].tolist() == ["ACME", "ACME"]

    assert run_cli("--params", params, "data", "ingest") == (0, [])
    ingested = pd.read_parquet(project / "data/ingested/bars.parquet")
    pd.testing.assert_frame_equal(
        ingested[checked.columns].reset_index(drop=True), checked, check_dtype=False
    )


def test_warning_thresholds_must_be_below_critical_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_params({"health": {"psi_warning": 0.4, "psi_critical": 0.3}})
    assert str(caught.value) == (
        "params.yaml: health: psi_warning (0.4) must be below psi_critical (0.3)"
    )
    with pytest.raises(ConfigError, match="missing_warning .0.2. must be below missing_critical"):
        parse_params({"health": {"missing_warning": 0.2}})
    with pytest.raises(ConfigError, match="cpcv_test_groups .3. must be below cpcv_groups .3."):
        parse_params({"training": {"splits": {"cpcv_groups": 3, "cpcv_test_groups": 3}}})
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"features": {"events": {"availability_lag": "soon"}}}))
    with pytest.raises(ConfigError, match="availability_lag must be a duration"):
        load_params(params)
