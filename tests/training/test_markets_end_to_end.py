"""Slow: every stage, data to model card, on a year of hourly FX and of hourly crypto bars.

The bars are generated on the real sessions (FX: Sunday 17:00 to Friday 17:00 New York; crypto:
every hour) with seeded random-walk prices: what is checked is the counting, not the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import exchange_calendars as xc
import numpy as np
import pandas as pd
import pytest
import yaml

import pipelines.data.calendars  # noqa: F401 - registers the FX calendar
from pipelines.cli import main as cli_main

pytestmark = pytest.mark.slow
RunCli = Callable[..., tuple[int, list[str]]]
STAGES = [
    ("data", "ingest"),
    ("data", "validate"),
    ("data", "features"),
    ("data", "health"),
    ("tune",),
    ("train",),
    ("backtest",),
    ("gate", "--report-only"),
    ("card",),
]
FAST = {
    "splits": {"walk_forward_folds": 3, "cpcv_groups": 4, "cpcv_test_groups": 2},
    "model": {"num_boost_round": 30, "early_stopping_rounds": 5, "min_data_in_leaf": 100},
    "tuning": {"n_trials": 4},
    "leakage": {"truncation_samples": 2},
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def make_params(project: Path) -> Callable[..., str]:
    def write(**sections: Any) -> str:
        (project / "params.yaml").write_text(yaml.safe_dump(sections), encoding="utf-8")
        return str(project / "params.yaml")

    return write


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    def run(*argv: str) -> tuple[int, list[str]]:
        code = cli_main(list(argv))
        return code, [e for e in capsys.readouterr().err.splitlines() if e.startswith("error")]

    return run


def _hours(calendar: str, start: str, end: str) -> pd.DatetimeIndex:
    cal = xc.get_calendar(calendar, start=start, end=end)
    return cal.trading_index(start, end, "1h", intervals=False, force_close=False)


def _write(project: Path, stamps: pd.DatetimeIndex, name: str) -> None:
    rng = np.random.default_rng(5)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, len(stamps))))
    (project / "incoming").mkdir()
    frame = pd.DataFrame(
        {"timestamp": stamps.tz_convert("UTC"), "instrument": name, "close": close}
    )
    frame.to_csv(project / "incoming/bars.csv", index=False)


@pytest.mark.parametrize(
    ("calendar", "market", "name", "bars_a_year", "derivation"),
    [
        ("FX", "fx", "EURUSD", 6264, "FX calendar: 261 sessions a year x 24 hourly bar(s)"),
        ("24/7", "crypto", "BTCUSDT", 8760, "24/7 calendar: 365 sessions a year x 24 hourly"),
    ],
)
def test_a_year_of_hourly_bars_through_every_stage(
    project: Path,
    make_params: Callable[..., str],
    run_cli: RunCli,
    calendar: str,
    market: str,
    name: str,
    bars_a_year: int,
    derivation: str,
) -> None:
    _write(project, _hours(calendar, "2023-01-03", "2023-12-29"), name)
    params = make_params(
        data={
            "source": "file",
            "frequency": "hourly",
            "file": {"path": "incoming/bars.csv", "market": market},
        },
        training=FAST,
    )
    for stage in STAGES:
        assert run_cli("--params", params, *stage) == (0, []), stage
    health = json.loads((project / "reports/data_health.json").read_text(encoding="utf-8"))
    assert health["bar_missing_rate"][name] == 0.0 and health["status"] != "critical"
    evaluation = json.loads((project / "models/evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["data"]["periods_per_year"] == bars_a_year
    card = (project / "models/card.md").read_text(encoding="utf-8")
    assert f"Annualisation: {bars_a_year:g} bars a year: {derivation}" in card
    assert "Learned something: " in card
