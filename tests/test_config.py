from pathlib import Path

import pytest

from pipelines.config import Params, load_params, parse_params
from pipelines.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "params"


def test_repository_params_load(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml")
    assert isinstance(params, Params)
    assert params.data.source == "sample"
    assert params.label.horizon > 0


def test_params_are_frozen(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml")
    with pytest.raises(Exception, match="frozen"):
        params.label.horizon = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"label": {"horizonn": 5}}, r"params.yaml: label.horizonn: unknown key"),
        ({"label": {"horizon": "five"}}, r"params.yaml: label.horizon: .*integer.*'five'"),
        ({"data": {"source": "ftp"}}, r"params.yaml: data.source: .*'sample'.*'ftp'"),
        ({"data": {"frequency": "weekly"}}, r"data.frequency"),
        ({"surprise": 1}, r"surprise: unknown key"),
        ([1, 2], r"expected a mapping"),
    ],
)
def test_bad_params_give_one_line(raw: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        parse_params(raw)
    assert "\n" not in str(info.value)


def test_unparsable_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("label:\n  horizon: [1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"params.yaml: line \d+ not valid YAML"):
        load_params(bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("valid_*.yaml")), ids=lambda p: p.name)
def test_valid_fixture_files(path: Path) -> None:
    load_params(path)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("invalid_*.yaml")), ids=lambda p: p.name)
def test_invalid_fixture_files(path: Path) -> None:
    with pytest.raises(ConfigError):
        load_params(path)


def test_cli_reports_bad_params_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    bad = tmp_path / "params.yaml"
    bad.write_text("label:\n  horizon: -1\n", encoding="utf-8")
    code = main(["--params", str(bad), "data", "features"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and err[0].startswith("error: ") and "label.horizon" in err[0]


@pytest.mark.parametrize("lag", ["5min", "0min", "1.5h", "30s", "250ms", "2D", "1W", "10us", "7ns"])
def test_a_plain_lag_is_read_without_pandas_as_pandas_reads_it(lag: str) -> None:
    import pandas as pd

    from pipelines.data.params import _PLAIN_DURATION, EventFeatureParams

    assert _PLAIN_DURATION.fullmatch(lag)
    assert pd.Timedelta(lag) >= pd.Timedelta(0)
    assert EventFeatureParams(availability_lag=lag).availability_lag == lag


@pytest.mark.parametrize(
    ("lag", "accepted"),
    [
        ("1 days 02:00:00", True),
        ("PT5M", True),
        ("5 min", True),
        ("-5min", False),
        ("soon", False),
        ("5T", False),
    ],
)
def test_any_other_lag_is_checked_by_pandas(lag: str, accepted: bool) -> None:
    from pipelines.data.params import _PLAIN_DURATION, EventFeatureParams

    assert not _PLAIN_DURATION.fullmatch(lag)
    if accepted:
        assert EventFeatureParams(availability_lag=lag).availability_lag == lag
    else:
        with pytest.raises(ValueError, match="availability_lag must"):
            EventFeatureParams(availability_lag=lag)


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        # Most commands (promote, deploy, lint, monitor mark) never use pandas: 0.4-0.6 s each.
        ("pipelines.cli", "pandas"),
        # SciPy's statistics (0.8 s) only where the PSR and DSR are computed (backtest).
        ("pipelines.training.gate_stage", "scipy"),
        ("pipelines.monitoring.weekly", "scipy"),
    ],
)
def test_a_command_imports_only_what_it_uses(repo_root: Path, module: str, absent: str) -> None:
    import subprocess
    import sys

    code = (
        f"import sys; import {module}; from pipelines.config import load_params; "
        f"load_params({str(repo_root / 'params.yaml')!r}); print({absent!r} in sys.modules)"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
