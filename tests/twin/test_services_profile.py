"""The twin profile: applies to a checkout, validates, is idempotent, never edits the source."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.config import load_params
from pipelines.training.gates import evaluate
from tests.conftest import REPO_ROOT
from twin.buckets import bucket_names
from twin.errors import TwinError
from twin.profile import apply_profile, load_profile


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The committed tree of the repository (what the twin's origin is seeded from)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp_path / "tree", filter="data")
    return tmp_path / "tree"


def test_profile_applies_validates_and_is_idempotent(checkout: Path) -> None:
    real_params = (REPO_ROOT / "params.yaml").read_bytes()
    changed = apply_profile(checkout)
    assert "params.yaml" in changed
    assert "environments/prod/settings.yaml" in changed
    params = load_params(checkout / "params.yaml")
    assert params.data.source == "s3"
    assert params.data.s3.bucket == bucket_names(checkout).raw
    assert params.data.s3.endpoint_url is None  # from AWS_ENDPOINT_URL at run time
    assert (
        params.training.tuning.n_trials
        < load_params(REPO_ROOT / "params.yaml").training.tuning.n_trials
    )
    snapshot = {p: p.read_bytes() for p in checkout.rglob("*.yaml")}
    assert apply_profile(checkout) == []
    assert {p: p.read_bytes() for p in checkout.rglob("*.yaml")} == snapshot
    assert (REPO_ROOT / "params.yaml").read_bytes() == real_params


def test_settings_get_the_short_windows_and_delays(checkout: Path) -> None:
    apply_profile(checkout)
    profile = load_profile()
    for env in ("staging", "prod"):
        settings = yaml.safe_load((checkout / "environments" / env / "settings.yaml").read_text())
        assert settings["schedule"] == profile["settings"][env]["schedule"]
        strategy = (checkout / "environments" / env / "strategy.yaml").read_text()
        real = (REPO_ROOT / "environments" / env / "strategy.yaml").read_text()
        assert strategy != real  # regenerated from the short schedule
    staging = yaml.safe_load((checkout / "environments/staging/settings.yaml").read_text())
    assert (
        staging["scale_down_delay_seconds"]
        == profile["settings"]["staging"]["scale_down_delay_seconds"]
    )


def test_a_profile_key_the_file_lacks_is_refused(checkout: Path) -> None:
    profile = load_profile()
    profile["settings"]["prod"] = {"schedule": {"windw": "1s"}}
    with pytest.raises(TwinError, match="windw"):
        apply_profile(checkout, profile)
    profile = load_profile()
    profile["params"]["training"]["tuning"]["n_trials"] = 0
    with pytest.raises(TwinError, match="n_trials"):
        apply_profile(checkout, profile)


def main_gate_inputs() -> tuple[dict[str, Any], dict[str, Any]]:
    report = json.loads((REPO_ROOT / "reports/gates/prod.json").read_text())
    metrics = json.loads((REPO_ROOT / "models/metrics.json").read_text())
    return metrics, report["baseline"]


def test_the_bundled_model_fails_the_real_gates_and_passes_the_twin_profile(checkout: Path) -> None:
    metrics, baseline = main_gate_inputs()
    candidate = {"bundle": "models/model_bundle.json", "sha256": "0" * 64, "git_commit": "abc"}
    ci = {"tests_passed": True, "commit": "abc"}
    for env in ("staging", "prod"):
        real = load_params(REPO_ROOT / "params.yaml").gates.for_env(env)
        assert evaluate(env, real, metrics, baseline, candidate, ci)["verdict"] == "fail"
    apply_profile(checkout)
    for env in ("staging", "prod"):
        twin = load_params(checkout / "params.yaml").gates.for_env(env)
        report = evaluate(env, twin, metrics, baseline, candidate, ci)
        assert report["verdict"] == "pass", [g for g in report["gates"] if g["verdict"] != "pass"]
        assert twin.require_no_leakage and twin.require_tests_passed
