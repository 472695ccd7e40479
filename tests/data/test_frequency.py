"""The bar frequency is inferred per instrument and checked; weekly and monthly bars refused."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.frequency import check, infer
from pipelines.errors import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "markets"
RunCli = Callable[..., tuple[int, list[str]]]


def _series(stamps: pd.DatetimeIndex, name: str = "X") -> tuple[pd.Series, pd.Series]:
    return pd.Series(name, index=range(len(stamps))), pd.Series(stamps)


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (pd.bdate_range("2024-01-01", periods=60, tz="UTC"), "daily"),
        (pd.date_range("2024-01-01", periods=60, freq="h", tz="UTC"), "hourly"),
        (pd.date_range("2024-01-01", periods=60, freq="min", tz="UTC"), "minute"),
        (pd.date_range("2024-01-01", periods=60, freq="W", tz="UTC"), "weekly"),
        (pd.date_range("2015-01-31", periods=60, freq="ME", tz="UTC"), "monthly"),
        (pd.date_range("2024-01-01", periods=60, freq="4h", tz="UTC"), "irregular"),
    ],
)
def test_inferred_from_the_median_spacing(stamps: pd.DatetimeIndex, expected: str) -> None:
    assert infer(*_series(stamps))["frequency"].tolist() == [expected]


def test_hourly_equities_with_nights_and_weekends_are_hourly() -> None:
    days = pd.bdate_range("2024-01-01", periods=20)
    hours = [d + pd.Timedelta(hours=h) for d in days for h in range(14, 21)]
    assert infer(*_series(pd.DatetimeIndex(hours, tz="UTC")))["frequency"].tolist() == ["hourly"]


def test_a_mismatch_names_the_instrument_both_frequencies_and_the_spacing() -> None:
    months = pd.date_range("2015-01-31", periods=30, freq="ME", tz="UTC")
    days = pd.bdate_range("2015-01-01", periods=30, tz="UTC")
    names = pd.Series(["M"] * 30 + ["D"] * 30)
    stamps = pd.Series(months.append(days))
    with pytest.raises(DataError) as caught:
        check(names, stamps, "daily", "bars.parquet")
    assert str(caught.value) == (
        "bars.parquet: instrument M: bars are monthly (median spacing 31 days) but "
        "data.frequency is daily; monthly bars are not supported (daily, hourly or minute bars "
        "only)"
    )


def test_monthly_data_declared_daily_fails_validation_in_one_line(
    project: Path, make_params: Callable[..., str], run_cli: RunCli
) -> None:
    (project / "incoming").mkdir()
    shutil.copy(FIXTURES / "spx_monthly.csv", project / "incoming/spx_monthly.csv")
    source = {"path": "incoming/spx_monthly.csv", "market": "equity"}
    params = make_params(data={"source": "file", "frequency": "daily", "file": source})
    assert run_cli("--params", params, "data", "ingest") == (0, [])
    code, errors = run_cli("--params", params, "data", "validate")
    assert code != 0 and errors == [
        "error: data/ingested/bars.parquet: instrument SPX: bars are monthly (median spacing "
        "31 days) but data.frequency is daily; monthly bars are not supported (daily, hourly "
        "or minute bars only)"
    ]
    assert not (project / "data/validated/bars.parquet").exists()
