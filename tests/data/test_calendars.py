"""Any market, counted in its own sessions: 24/5 FX, 24/7 crypto, exchange calendars.

Fixtures (tests/fixtures/markets): three weeks of hourly EURUSD on the FX sessions across the
US daylight-saving change, two weeks of hourly BTCUSDT; prices are a seeded random walk.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.calendars import annualisation
from pipelines.data.reference import parse_reference

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "markets"
RunCli = Callable[..., tuple[int, list[str]]]
STAGES = ("ingest", "validate", "features", "health")


def _run_stages(project: Path, make_params: Callable[..., str], run_cli: RunCli, name: str,
                market: str) -> tuple[str, dict, dict, dict]:  # fmt: skip
    (project / "incoming").mkdir(exist_ok=True)
    shutil.copy(FIXTURES / name, project / "incoming" / name)
    params = make_params(
        data={
            "source": "file",
            "frequency": "hourly",
            "file": {"path": f"incoming/{name}", "market": market},
        },
        health={"psi_window_bars": 120},
    )
    for stage in STAGES:
        assert run_cli("--params", params, "data", stage) == (0, []), stage
    read = lambda path: json.loads((project / path).read_text(encoding="utf-8"))  # noqa: E731
    return (
        params,
        read("reports/validation.json"),
        read("reports/data_health.json"),
        read("data/features/_metadata.json"),
    )


def test_hourly_fx_weekends_are_not_missing_and_a_year_is_6264_bars(
    project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> None:
    _, validation, health, meta = _run_stages(project, make_params, run_cli, "eurusd_1h.csv", "fx")
    entry = validation["instruments"]["EURUSD"]
    assert entry["calendar"] == "FX"
    # 3 weeks x 5 sessions x 24 hours, weekends and the DST shift included: nothing missing.
    assert (entry["expected_bars"], entry["missing_bars"], entry["off_calendar_bars"]) == (
        360,
        0,
        0,
    )
    assert health["bar_missing_rate"]["EURUSD"] == 0.0
    assert not [f for f in health["findings"] if f["check"] in ("freshness", "bar_completeness")]
    year = meta["annualisation"]
    assert (year["sessions_per_year"], year["bars_per_session"], year["bars_per_year"]) == (
        261.0,
        24.0,
        6264.0,
    )


def test_a_missing_fx_hour_is_a_gap_but_a_weekend_is_not(
    project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> None:
    lines = (FIXTURES / "eurusd_1h.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    gap = [line for line in lines if not line.startswith(("2024-03-13T10", "2024-03-13T11"))]
    (project / "incoming").mkdir()
    (project / "incoming/eurusd_1h.csv").write_text("".join(gap), encoding="utf-8")
    params = make_params(
        data={
            "source": "file",
            "frequency": "hourly",
            "file": {"path": "incoming/*.csv", "market": "fx"},
        },
        validation={"max_gap_bars": 1},
    )
    for stage in ("ingest", "validate"):
        assert run_cli("--params", params, "data", stage) == (0, [])
    entry = json.loads((project / "reports/validation.json").read_text())["instruments"]["EURUSD"]
    assert (entry["expected_bars"], entry["missing_bars"]) == (360, 2)
    assert entry["gaps"] == [
        {"from": "2024-03-13T10:00:00+00:00", "to": "2024-03-13T11:00:00+00:00", "missing_bars": 2}
    ]


def test_hourly_crypto_trades_every_hour_8760_a_year(
    project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> None:
    _, validation, _, meta = _run_stages(project, make_params, run_cli, "btcusdt_1h.csv", "crypto")
    assert validation["instruments"]["BTCUSDT"]["missing_bars"] == 0
    assert meta["annualisation"]["bars_per_year"] == 8760.0
    master = pd.read_csv(project / "data/reference/instruments.csv")
    assert master.loc[0, ["asset_class", "calendar", "currency"]].tolist() == [
        "crypto",
        "24/7",
        "USDT",
    ]


def test_the_bundled_daily_equities_have_252_bars_a_year(repo_root: Path) -> None:
    master = repo_root / "data/sample/instruments.csv"
    rows, rejects = parse_reference(master.name, master.read_bytes())
    assert rejects.empty and set(rows["calendar"]) == {"XNYS", "XNAS"}
    year = annualisation(sorted(set(rows["calendar"])), "daily", pd.Timestamp("2022-12-28"))
    assert (year["sessions_per_year"], year["bars_per_session"], year["bars_per_year"]) == (
        252.0,
        1.0,
        252.0,
    )
    assert year["derivation"].startswith("XNAS, XNYS (the same sessions): 252 sessions a year")


@pytest.mark.parametrize(
    ("calendars", "frequency", "bars"),
    [(["XNYS"], "hourly", 1764.0), (["XNYS"], "minute", 98280.0), (["24/7"], "daily", 365.0)],
)
def test_bars_a_year_follow_sessions_and_bars_per_session(
    calendars: list[str], frequency: str, bars: float
) -> None:
    assert annualisation(calendars, frequency, pd.Timestamp("2024-06-01"))["bars_per_year"] == bars  # type: ignore[arg-type]


def test_scheduled_freshness_counts_only_due_sessions(
    project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> None:
    params, *_ = _run_stages(project, make_params, run_cli, "eurusd_1h.csv", "fx")
    # Friday 22 March 2024, last bar 20:00 UTC; on Sunday nothing is due yet.
    sunday = ("--params", params, "data", "freshness", "--as-of", "2024-03-24T12:00:00Z")
    assert run_cli(*sunday) == (0, [])
    report = json.loads((project / "reports/freshness.json").read_text(encoding="utf-8"))
    assert report["freshness"]["EURUSD"]["age_bars"] == 0
    # Monday 03:00 UTC: Sunday 21:00 .. Monday 02:00 are due, 6 bars > 3 allowed.
    code, errors = run_cli(*sunday[:-1], "2024-03-25T03:00:00Z")
    assert code == 1 and len(errors) == 1
    assert "EURUSD: latest bar 6 FX bars before 2024-03-25T03:00:00+00:00" in errors[0]
