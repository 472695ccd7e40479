"""Drift injected into a copy of the live features makes the hourly check critical on them."""

from __future__ import annotations

import json

import numpy as np
import yaml

from pipelines.cli import main
from tests.conftest import REPO_ROOT
from tests.monitoring.test_monitor_cli import _bundle, _store, _table
from twin.drift import main as drift_main


def test_injected_drift_pages_on_the_moved_feature_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    rng = np.random.default_rng(21)
    sha = _bundle(tmp_path / "model.json", _table(rng, 2000))
    manifest = {"model": {"version": "5", "artifact": {"uri": "model.json", "sha256": sha}}}
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(manifest))
    _store(tmp_path / "store", rng, shift=0.0)
    health = ["monitor", "health", "--manifest", "model.yaml", "--features"]
    assert main([*health, "store"]) in (0, 10)
    args = ["--store", "store", "--out", "drifted", "--feature", "f_b", "--bars", "21"]
    assert drift_main(args) == 0
    assert main([*health, "drifted"]) == 20
    report = json.loads((tmp_path / "reports/feature_health.json").read_text())
    statuses = {f["feature"]: (f["status"], f["psi"]) for f in report["features"]}
    assert statuses["f_b"][0] == "critical" and statuses["f_b"][1] > 0.3
    assert statuses["f_a"][0] == "ok"
    assert drift_main([*args[:4], "--feature", "nope"]) == 1
