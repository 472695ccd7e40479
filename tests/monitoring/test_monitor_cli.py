"""``pipelines monitor drift|health|mark`` end to end through the real CLI parser."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipelines.cli import main
from pipelines.data.params import FeatureParams
from pipelines.data.store import write_store
from pipelines.monitoring.checks import CHECKS
from pipelines.registry.bundle import PositionRule, bundle_payload, save_bundle
from tests.conftest import REPO_ROOT

FEATURES = ["f_a", "f_b"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    return tmp_path


def _table(rng, n, shift=0.0, missing_every=0):
    frame = pd.DataFrame({f: rng.normal(shift, 1.0, n) for f in FEATURES})
    if missing_every:
        frame.loc[frame.index[::missing_every], "f_b"] = np.nan
    return frame


def _samples(path):
    families = text_string_to_metric_families(path.read_text())
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


@pytest.mark.parametrize(
    ("shift", "missing_every", "code", "status"),
    [(0.0, 0, 0, "ok"), (0.0, 14, 10, "warning"), (1.0, 0, 20, "critical")],
)
def test_drift_exit_status_report_and_metrics(workdir, shift, missing_every, code, status):
    rng = np.random.default_rng(7)
    _table(rng, 4000).to_parquet("ref.parquet")
    _table(rng, 4000, shift, missing_every).to_parquet("cur.parquet")
    rc = main(["monitor", "drift", "--reference", "ref.parquet", "--current", "cur.parquet"])
    assert rc == code
    report = json.loads((workdir / "reports/drift.json").read_text())
    assert report["status"] == status
    assert report["exit_code"] == code
    assert {f["feature"] for f in report["features"]} == set(FEATURES)
    samples = _samples(workdir / "reports/drift.prom")
    assert samples[("feature_health_status", ())] == {"ok": 0, "warning": 1, "critical": 2}[status]
    psi_b = next(f["psi"] for f in report["features"] if f["feature"] == "f_b")
    assert samples[("feature_psi", (("feature", "f_b"),))] == pytest.approx(psi_b)


def test_drift_bad_input_is_one_line_and_exit_2(workdir, capsys):
    pd.DataFrame({"f_a": [1.0, 2.0]}).to_parquet("ref.parquet")
    pd.DataFrame({"other": [1.0]}).to_parquet("cur.parquet")
    assert main(["monitor", "drift", "--reference", "ref.parquet", "--current", "cur.parquet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: cur.parquet: feature 'f_a' of the reference is missing"
    assert (
        main(["monitor", "drift", "--reference", "nope.parquet", "--current", "cur.parquet"]) == 2
    )
    assert "nope.parquet: file not found" in capsys.readouterr().err


def _bundle(path, reference):
    x = np.random.default_rng(0).normal(size=(200, len(FEATURES)))
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 4},
        lgb.Dataset(x, label=(x[:, 0] > 0).astype(int)),
        num_boost_round=3,
    )
    payload = bundle_payload(
        booster, FEATURES, FeatureParams(), "binary", 5, "daily", PositionRule(), None, reference
    )
    return save_bundle(payload, path)


def _store(root, rng, shift):
    stamps = pd.date_range("2024-01-01", periods=60, freq="D", tz="UTC")
    rows = [
        {"timestamp": t, "instrument": inst, "f_a": rng.normal(shift), "f_b": rng.normal()}
        for t in stamps
        for inst in ("AAA", "BBB", "CCC")
    ]
    frame = pd.DataFrame(rows)
    write_store(frame, {"features": FEATURES}, root)


def test_health_against_the_deployed_bundle(workdir):
    rng = np.random.default_rng(3)
    sha = _bundle(workdir / "model.json", _table(rng, 500))
    manifest = {
        "environment": "prod",
        "model": {"name": "m", "version": "7", "artifact": {"uri": "model.json", "sha256": sha}},
    }
    (workdir / "model.yaml").write_text(yaml.safe_dump(manifest))
    _store(workdir / "data/features", rng, shift=2.0)
    rc = main(["monitor", "health", "--manifest", "model.yaml"])
    assert rc == 20
    report = json.loads((workdir / "reports/feature_health.json").read_text())
    assert report["model_version"] == "7"
    assert report["window_bars"] == 21
    assert next(f for f in report["features"] if f["feature"] == "f_a")["status"] == "critical"
    assert next(f for f in report["features"] if f["feature"] == "f_a")["current_rows"] == 63
    metrics = _samples(workdir / "reports/metrics/feature_health.prom")
    assert metrics[("feature_health_status", ())] == 2
    latest = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=59)
    key = ("data_latest_bar_timestamp_seconds", (("instrument", "BBB"),))
    assert metrics[key] == latest.timestamp()
    runs = _samples(workdir / "reports/metrics/pipeline_feature_health.prom")
    assert (
        runs[("pipeline_runs_total", (("pipeline", "feature_health"), ("status", "success")))] == 1
    )


def test_health_refuses_a_bundle_whose_digest_differs(workdir, capsys):
    rng = np.random.default_rng(4)
    _bundle(workdir / "model.json", _table(rng, 100))
    manifest = {"model": {"version": "1", "artifact": {"uri": "model.json", "sha256": "0" * 64}}}
    (workdir / "model.yaml").write_text(yaml.safe_dump(manifest))
    _store(workdir / "data/features", rng, shift=0.0)
    assert main(["monitor", "health", "--manifest", "model.yaml"]) == 2
    assert "does not match the manifest" in capsys.readouterr().err
    runs = _samples(workdir / "reports/metrics/pipeline_feature_health.prom")
    assert (
        runs[("pipeline_runs_total", (("pipeline", "feature_health"), ("status", "failure")))] == 1
    )


def test_health_with_nothing_deployed_is_a_notice_and_a_successful_run(
    workdir, capsys, monkeypatch
):
    outputs = workdir / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    (workdir / "model.yaml").write_text("environment: prod\nmodel: null\n")
    assert main(["monitor", "health", "--manifest", "model.yaml"]) == 0
    assert "notice:" in capsys.readouterr().err
    assert "status=no-model" in outputs.read_text()
    runs = _samples(workdir / "reports/metrics/pipeline_feature_health.prom")
    assert (
        runs[("pipeline_runs_total", (("pipeline", "feature_health"), ("status", "success")))] == 1
    )


def test_mark_carries_counts_and_timestamps_forward(workdir):
    assert main(["monitor", "mark", "--pipeline", "data", "--status", "success"]) == 0
    assert main(["monitor", "mark", "--pipeline", "data", "--status", "failure"]) == 0
    assert (
        main(["monitor", "mark", "--pipeline", "data", "--status", "success", "--duration", "12.5"])
        == 0
    )
    s = _samples(workdir / "reports/metrics/pipeline_data.prom")
    assert s[("pipeline_runs_total", (("pipeline", "data"), ("status", "success")))] == 2
    assert s[("pipeline_runs_total", (("pipeline", "data"), ("status", "failure")))] == 1
    last_ok = s[("pipeline_last_success_timestamp_seconds", (("pipeline", "data"),))]
    last_fail = s[("pipeline_last_failure_timestamp_seconds", (("pipeline", "data"),))]
    assert last_ok >= last_fail > 0
    assert s[("pipeline_duration_seconds", (("pipeline", "data"),))] == 12.5


def test_deployment_events_keep_the_last_success_beside_a_failure(workdir, capsys):
    for version, status in (("6", "success"), ("7", "failure")):
        args = ["monitor", "event", "--kind", "deployment", "--env", "prod"]
        assert main([*args, "--model-version", version, "--status", status]) == 0
    s = _samples(workdir / "reports/metrics/deployment_prod.prom")
    ok = s[
        (
            "model_deployment_last_success_timestamp_seconds",
            (("environment", "prod"), ("model_version", "6")),
        )
    ]
    failed = s[
        (
            "model_deployment_last_failure_timestamp_seconds",
            (("environment", "prod"), ("model_version", "7")),
        )
    ]
    assert failed >= ok > 0
    promote = ["monitor", "event", "--kind", "promotion", "--env", "staging"]
    assert main([*promote, "--model-version", "7"]) == 0
    s = _samples(workdir / "reports/metrics/promotion_staging.prom")
    assert (
        "model_promotion_timestamp_seconds",
        (("environment", "staging"), ("model_version", "7")),
    ) in s
    assert main(["monitor", "event", "--kind", "report"]) == 0
    s = _samples(workdir / "reports/metrics/performance_report.prom")
    assert s[("model_performance_report_timestamp_seconds", ())] > 0
    assert main(["monitor", "event", "--kind", "deployment", "--env", "prod"]) == 2
    assert "--model-version: expected" in capsys.readouterr().err


def test_health_with_an_explicit_reference_table_ok(workdir):
    rng = np.random.default_rng(5)
    _table(rng, 2000).to_parquet("ref.parquet")
    _store(workdir / "store", rng, shift=0.0)
    rc = main(["monitor", "health", "--reference", "ref.parquet", "--features", "store"])
    report = json.loads((workdir / "reports/feature_health.json").read_text())
    assert report["reference"] == "ref.parquet"
    assert (rc, report["status"]) == (0, "ok")
    assert all(f["current_rows"] == 63 for f in report["features"])


def test_health_report_has_a_row_per_check_and_exports_each_status(workdir):
    rng = np.random.default_rng(8)
    sha = _bundle(workdir / "model.json", _table(rng, 600))
    manifest = {"model": {"version": "3", "artifact": {"uri": "model.json", "sha256": sha}}}
    (workdir / "model.yaml").write_text(yaml.safe_dump(manifest))
    _store(workdir / "data/features", rng, shift=0.0)
    assert main(["monitor", "health", "--manifest", "model.yaml"]) in (0, 10)
    report = json.loads((workdir / "reports/feature_health.json").read_text())
    assert [c["check"] for c in report["checks"]] == list(CHECKS)
    by_name = {c["check"]: c for c in report["checks"]}
    assert by_name["outliers"]["warning"] == 0.10 and by_name["outliers"]["critical"] == 0.15
    assert by_name["importance"]["higher_is_worse"] is False
    # No labels file: prediction power says so instead of guessing.
    assert by_name["prediction_power"]["value"] is None
    assert (
        "no verdict" in by_name["prediction_power"]["verdict"]
        or "carries no" in (by_name["prediction_power"]["verdict"])
    )
    metrics = _samples(workdir / "reports/metrics/feature_health.prom")
    for check in CHECKS:
        assert ("feature_health_check_status", (("check", check),)) in metrics
    assert ("feature_outlier_share", (("feature", "f_a"),)) in metrics
    assert ("feature_importance_share", (("feature", "f_a"), ("sample", "live"))) in metrics


@pytest.mark.slow
def test_health_reads_the_deployed_bundle_from_s3_and_checks_its_digest(workdir, s3_endpoint):
    import boto3

    rng = np.random.default_rng(9)
    sha = _bundle(workdir / "model.json", _table(rng, 600))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models-health")
    s3.upload_file(str(workdir / "model.json"), "models-health", "trading/7/model.json")
    uri = "s3://models-health/trading/7/model.json"
    (workdir / "model.json").unlink()  # only the S3 copy exists
    manifest = {"model": {"version": "7", "artifact": {"uri": uri, "sha256": sha}}}
    (workdir / "model.yaml").write_text(yaml.safe_dump(manifest))
    _store(workdir / "data/features", rng, shift=0.0)
    assert main(["monitor", "health", "--manifest", "model.yaml"]) in (0, 10)
    report = json.loads((workdir / "reports/feature_health.json").read_text())
    assert report["model_version"] == "7" and report["model_sha256"] == sha
    wrong = {"model": {"version": "7", "artifact": {"uri": uri, "sha256": "1" * 64}}}
    (workdir / "model.yaml").write_text(yaml.safe_dump(wrong))
    assert main(["monitor", "health", "--manifest", "model.yaml"]) == 2
