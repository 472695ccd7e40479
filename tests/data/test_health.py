"""Health: PSI, freshness, completeness, the previous-run snapshot and the exit status."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.data.completeness import count_expected
from pipelines.data.health import assess
from pipelines.data.params import HealthParams
from pipelines.data.psi import psi, reference_bins


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(size=5000)
    summary = reference_bins(reference, 10)
    assert len(summary["fractions"]) == 10 and summary["count"] == 5000
    assert psi(summary, reference) == pytest.approx(0.0, abs=1e-12)
    assert psi(summary, rng.normal(size=5000)) < 0.05
    assert psi(summary, rng.normal(loc=1.0, size=5000)) > 0.3


def test_psi_without_values_is_nan() -> None:
    assert np.isnan(psi(reference_bins(np.array([np.nan])), np.array([1.0])))
    assert np.isnan(psi(reference_bins(np.arange(10.0)), np.array([np.nan])))


CAL = {"AAA": "24/5", "BBB": "24/5"}


def test_due_bars_are_counted_in_the_instruments_own_sessions() -> None:
    def utc(text: str) -> pd.Timestamp:
        return pd.Timestamp(text, tz="UTC")

    # A NYSE Wednesday close judged on Friday night: Thursday 4 July is a holiday, Friday is due.
    assert count_expected("XNYS", "daily", utc("2024-07-03"), utc("2024-07-05 22:00")) == 1
    # Before Friday's close (20:00 UTC) nothing is due yet.
    assert count_expected("XNYS", "daily", utc("2024-07-03"), utc("2024-07-05 19:00")) == 0
    # The last FX bar of the week (Friday 20:00 UTC in summer) judged on Sunday: nothing due.
    assert count_expected("FX", "hourly", utc("2024-06-07 20:00"), utc("2024-06-09 12:00")) == 0
    # ... and on Monday 01:30 UTC: Sunday 21:00 .. Monday 00:00 are due (4 hourly bars).
    assert count_expected("FX", "hourly", utc("2024-06-07 20:00"), utc("2024-06-10 01:30")) == 4
    # Crypto never closes: 30 hours later, 30 hourly bars are due.
    assert count_expected("24/7", "hourly", utc("2024-06-07 20:00"), utc("2024-06-09 03:00")) == 30


def _frames(n: int = 300, shift: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    stamps = pd.bdate_range("2023-01-02", periods=n, tz="UTC")
    bars = pd.DataFrame({"timestamp": stamps, "instrument": "AAA", "close": 1.0})
    features = bars[["timestamp", "instrument"]].assign(f=rng.normal(loc=shift, size=n))
    return features, bars


def test_first_run_has_no_reference_and_is_ok() -> None:
    features, bars = _frames()
    report, snapshot = assess(features, bars, None, HealthParams(), "daily", CAL)
    assert report["status"] == "ok" and report["features"]["f"]["psi"] is None
    assert snapshot["features"]["f"]["count"] == 252


def test_drift_against_the_previous_run_is_critical() -> None:
    features, bars = _frames()
    _, snapshot = assess(features, bars, None, HealthParams(), "daily", CAL)
    drifted, _ = _frames(shift=2.0)
    report, _ = assess(drifted, bars, snapshot, HealthParams(), "daily", CAL)
    assert report["status"] == "critical"
    assert [f["check"] for f in report["findings"]] == ["psi"]


def test_stale_instrument_and_missing_features_are_found() -> None:
    features, bars = _frames()
    other = bars.iloc[:-10].assign(instrument="BBB")
    bars = pd.concat([bars, other], ignore_index=True)
    features = pd.concat(
        [features, other[["timestamp", "instrument"]].assign(f=np.nan)], ignore_index=True
    )
    report, _ = assess(features, bars, None, HealthParams(), "daily", CAL)
    checks = {(f["check"], f["subject"], f["level"]) for f in report["findings"]}
    assert ("freshness", "BBB", "critical") in checks
    assert report["freshness"]["BBB"]["age_bars"] == 10
    assert ("feature_missing_rate", "f", "critical") in checks


def test_as_of_now_makes_old_data_critical() -> None:
    features, bars = _frames()
    last = bars["timestamp"].max()
    now = HealthParams(as_of="now")
    assert assess(features, bars, None, now, "daily", CAL, last)[0]["status"] == "ok"
    late = last + pd.Timedelta(days=7)
    report, _ = assess(features, bars, None, now, "daily", CAL, late)
    # A week later at midnight: four weekday sessions have closed, the fifth is still open.
    assert report["status"] == "critical" and report["freshness"]["AAA"]["age_bars"] == 4
    pinned = HealthParams(as_of=late.isoformat())
    assert assess(features, bars, None, pinned, "daily", CAL)[0]["status"] == "critical"


def test_cli_health_twice_then_drift_exits_one(
    project: Path, make_params: Callable[..., str], run_cli: Callable[..., tuple[int, list[str]]]
) -> None:
    rng = np.random.default_rng(11)
    stamps = pd.bdate_range("2022-01-03", periods=400, tz="UTC")
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (400, 3)), axis=0))
    wide = pd.DataFrame(closes, columns=["AAA", "BBB", "CCC"]).assign(Date=stamps.date)
    (project / "incoming").mkdir()
    wide[["Date", "AAA", "BBB", "CCC"]].to_csv(project / "incoming/w.csv", index=False)
    params = make_params(
        data={"source": "file", "file": {"path": "incoming/w.csv", "market": "equity"}},
        validation={"max_integrity_rejects": 0},
    )
    for stage in ("ingest", "validate", "features", "health", "health"):
        assert run_cli("--params", params, "data", stage) == (0, []), stage
    report = json.loads((project / "reports/data_health.json").read_text(encoding="utf-8"))
    assert report["status"] == "ok" and report["features"]["ret_1"]["psi"] == 0.0

    snapshot_path = project / "data/health/feature_snapshot.json"
    snapshot = json.loads(snapshot_path.read_text(encoding="utf-8"))
    snapshot["features"]["vol_21"]["edges"] = [
        e * 10 for e in snapshot["features"]["vol_21"]["edges"]
    ]
    snapshot_path.write_text(json.dumps(snapshot), encoding="utf-8")
    code, errors = run_cli("--params", params, "data", "health")
    assert code == 1 and len(errors) == 1
    assert "critical finding" in errors[0] and "psi vol_21" in errors[0]
    # The snapshot is not moved on by a critical run: the drift stays visible.
    assert json.loads(snapshot_path.read_text(encoding="utf-8")) == snapshot


def test_bad_as_of_is_one_line() -> None:
    from pipelines.errors import ConfigError

    features, bars = _frames()
    with pytest.raises(ConfigError, match="health.as_of: expected null, 'now' or an ISO"):
        assess(features, bars, None, HealthParams(as_of="yesterday-ish"), "daily", CAL)
