"""The serving commands end bad input with one `error:` line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main

from .conftest import free_port


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def test_serve_missing_manifest(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("instruments: [KO]\n")
    code = main(["serve", "--manifest", str(tmp_path / "nope.yaml"), "--settings", str(settings)])
    assert code == 2
    assert one_error_line(capsys) == f"error: {tmp_path / 'nope.yaml'}: manifest not found"


def test_serve_settings_without_instruments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("replicas: 1\n")
    code = main(["serve", "--manifest", "environments/dev/model.yaml", "--settings", str(settings)])
    assert code == 2 and "instruments: expected a list" in one_error_line(capsys)


def test_analyze_needs_thresholds(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "analyze",
            "--prometheus-url",
            "http://127.0.0.1:9",
            "--canary-version",
            "c",
            "--stable-version",
            "s",
            "--error-rate-max",
            "0.01",
        ]
    )
    assert code == 2 and "missing --latency-p99-max-seconds" in one_error_line(capsys)


def test_analyze_unreachable_prometheus_is_an_error_not_a_verdict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code = main(
        [
            "analyze",
            "--prometheus-url",
            url,
            "--canary-version",
            "c",
            "--stable-version",
            "s",
            "--settings",
            "environments/prod/settings.yaml",
        ]
    )
    assert code == 2 and f"prometheus at {url}: query failed" in one_error_line(capsys)


def test_analyze_sides_are_hashes_or_versions_not_a_mix(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["analyze", "--prometheus-url", "http://127.0.0.1:9", "--settings"]
    base.append("environments/prod/settings.yaml")
    code = main([*base, "--canary-hash", "abc", "--stable-version", "v1"])
    assert code == 2 and "not a mix" in one_error_line(capsys)
    code = main([*base, "--canary-hash", "abc"])
    assert code == 2 and "give --canary-hash and --stable-hash" in one_error_line(capsys)
