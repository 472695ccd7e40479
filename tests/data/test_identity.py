"""A workspace holds one dataset: another source or frequency is refused, or added on purpose."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

RunCli = Callable[..., tuple[int, list[str]]]
STOCKS = "timestamp,instrument,close\n2024-01-02,AAA,10\n2024-01-03,AAA,11\n"
FX = "timestamp,instrument,close\n2024-01-03T10:00Z,EURUSD,1.09\n2024-01-03T11:00Z,EURUSD,1.1\n"
MORE = "timestamp,instrument,close\n2024-01-02,BBB,5\n2024-01-03,BBB,6\n2024-01-03,AAA,99\n"


def _params(make_params: Callable[..., str], path: str, frequency: str = "daily") -> str:
    source = {"path": path, "market": "equity" if frequency == "daily" else "fx"}
    return make_params(data={"source": "file", "frequency": frequency, "file": source})


def test_switching_source_or_frequency_is_refused_in_one_line(
    project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> None:
    (project / "stocks.csv").write_text(STOCKS, encoding="utf-8")
    (project / "fx.csv").write_text(FX, encoding="utf-8")
    assert run_cli("--params", _params(make_params, "stocks.csv"), "data", "ingest") == (0, [])
    before = (project / "data/ingested/bars.parquet").read_bytes()

    code, errors = run_cli("--params", _params(make_params, "fx.csv", "hourly"), "data", "ingest")
    assert code != 0 and errors == [
        "error: data/ingested/state.json: this workspace holds daily bars (1 instruments from "
        "file:stocks.csv), but data.frequency is hourly: refusing to mix frequencies (use a "
        "fresh workspace for the new dataset)"
    ]
    code, errors = run_cli("--params", _params(make_params, "fx.csv"), "data", "ingest")
    assert code != 0 and len(errors) == 1
    assert "but data.source now reads file:fx.csv: refusing to mix datasets" in errors[0]
    assert "pipelines data ingest --add-instruments" in errors[0]
    assert (project / "data/ingested/bars.parquet").read_bytes() == before


def test_a_flag_adds_another_sources_instruments_but_not_the_same_ones(
    project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> None:
    (project / "stocks.csv").write_text(STOCKS, encoding="utf-8")
    (project / "more.csv").write_text(MORE, encoding="utf-8")
    assert run_cli("--params", _params(make_params, "stocks.csv"), "data", "ingest") == (0, [])
    more = _params(make_params, "more.csv")
    code, errors = run_cli("--params", more, "data", "ingest", "--add-instruments")
    assert code != 0 and len(errors) == 1
    assert "instrument AAA already comes from file:stocks.csv" in errors[0]

    (project / "more.csv").write_text(MORE.replace("2024-01-03,AAA,99\n", ""), encoding="utf-8")
    assert run_cli("--params", more, "data", "ingest", "--add-instruments") == (0, [])
    state = json.loads((project / "data/ingested/state.json").read_text(encoding="utf-8"))
    assert state["dataset"]["sources"] == {"file:more.csv": ["BBB"], "file:stocks.csv": ["AAA"]}
    bars = pd.read_parquet(project / "data/ingested/bars.parquet")
    assert sorted(bars["instrument"].unique()) == ["AAA", "BBB"]
    # Once recorded, the added source runs nightly without the flag.
    assert run_cli("--params", more, "data", "ingest") == (0, [])
