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
