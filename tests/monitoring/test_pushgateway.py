"""Pipeline metrics pushed to a real Pushgateway, and the alert expressions that read them.

Each test starts Debian's ``prometheus-pushgateway`` (and, for the alert test, ``prometheus``
scraping it with the repository's own scrape job) on 127.0.0.1 and stops it by its PID.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipelines.cli import main
from tests.conftest import REPO_ROOT
from tests.monitoring.servers import prometheus, pushgateway
from twin.procs import wait_until

pytestmark = pytest.mark.slow
GROUP = {"job": "pipelines", "pipeline": "data", "environment": "prod"}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    monkeypatch.setenv("PIPELINES_ENVIRONMENT", "prod")
    return tmp_path


def _write(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def _data_reports(root: Path) -> None:
    _write(root / "data/ingested/state.json", {"last_run": {"appended": 40, "revisions": 2}})
    _write(root / "reports/validation.json", {"rows_quarantined": 3})
    features = {"ret_1": {"psi": 0.12}, "vol_21": {"psi": 0.31}, "rsi_14": {"psi": 0.0}}
    _write(root / "reports/data_health.json", {"features": features})


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "instance"))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted({**GROUP, **labels}.items()))


def test_data_run_pushes_outcome_duration_and_figures_and_carries_them_forward(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _data_reports(workdir)
    with pushgateway(workdir) as url:
        monkeypatch.setenv("PUSHGATEWAY_URL", url)
        mark = ["monitor", "mark", "--pipeline", "data"]
        assert main([*mark, "--status", "success", "--duration", "95"]) == 0
        assert main([*mark, "--status", "failure", "--duration", "12"]) == 0
        samples = _samples(url)
    ok = samples[_key("pipeline_last_success_timestamp_seconds")]
    failed = samples[_key("pipeline_last_failure_timestamp_seconds")]
    assert failed >= ok > 0, "the failure push kept the earlier success"
    assert samples[_key("pipeline_runs_total", status="success")] == 1
    assert samples[_key("pipeline_runs_total", status="failure")] == 1
    assert samples[_key("pipeline_duration_seconds")] == 12
    assert samples[_key("data_ingested_rows")] == 40
    assert samples[_key("data_quarantined_rows", stage="ingest")] == 2
    assert samples[_key("data_quarantined_rows", stage="validate")] == 3
    assert samples[_key("data_health_psi_max")] == pytest.approx(0.31)
    assert not (workdir / "reports/metrics").exists(), "no textfile when a gateway is set"


def test_training_figures_and_a_deployment_event_keep_their_labels(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(workdir / "models/candidate.json", {"model_name": "trading-lgbm", "model_version": "7"})
    for env, verdict in (("dev", "pass"), ("staging", "fail"), ("prod", "fail")):
        _write(workdir / f"reports/gates/{env}.json", {"verdict": verdict})
    with pushgateway(workdir) as url:
        monkeypatch.setenv("PUSHGATEWAY_URL", url)
        started = ["--started-at", "1"]
        assert (
            main(["monitor", "mark", "--pipeline", "training", "--status", "success", *started])
            == 0
        )
        assert (
            main(
                ["monitor", "event", "--kind", "deployment", "--env", "dev"]
                + ["--model-version", "7"]
            )
            == 0
        )
        samples = _samples(url)
    training = {"job": "pipelines", "pipeline": "training", "environment": "prod"}

    def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted({**training, **labels}.items()))

    assert samples[key("training_candidate_info", model_name="trading-lgbm", model_version="7")]
    assert samples[key("training_gate_passed", target="dev")] == 1
    assert samples[key("training_gate_passed", target="staging")] == 0
    assert samples[key("pipeline_duration_seconds", pipeline="training")] > 1e9
    deployed = (
        "model_deployment_last_success_timestamp_seconds",
        tuple(
            sorted(
                {
                    "job": "pipelines",
                    "pipeline": "deployment",
                    "environment": "dev",
                    "model_version": "7",
                }.items()
            )
        ),
    )
    assert samples[deployed] > 0


def test_an_unreachable_gateway_fails_the_step_with_one_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PUSHGATEWAY_URL", "http://127.0.0.1:9")
    assert main(["monitor", "mark", "--pipeline", "data", "--status", "success"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: PUSHGATEWAY_URL=http://127.0.0.1:9: cannot read")


def _rule_expr(alert: str) -> str:
    rules = yaml.safe_load(
        (REPO_ROOT / "monitoring/prometheus/rules/pipelines.rules.yml").read_text()
    )
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                return str(rule["expr"])
    raise AssertionError(f"no alert {alert}")


def _query(url: str, expr: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_alert_expressions_fire_from_series_scraped_off_the_gateway(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DataPipelineFailed, the SLA and the drift rules select what a real push produces."""
    _data_reports(workdir)
    with pushgateway(workdir) as gateway, prometheus(workdir, gateway) as prom:
        monkeypatch.setenv("PUSHGATEWAY_URL", gateway)
        assert (
            main(
                ["monitor", "mark", "--pipeline", "data", "--status", "failure"]
                + ["--duration", "7300"]
            )
            == 0
        )
        expressions = {
            name: _rule_expr(name)
            for name in ("DataPipelineFailed", "DataPipelineSLAMissed", "DataPipelineCompleted")
        }

        def fired() -> bool:
            return bool(_query(prom, expressions["DataPipelineFailed"]))

        wait_until("DataPipelineFailed expression", fired, timeout=30)
        failed = _query(prom, expressions["DataPipelineFailed"])[0]["metric"]
        assert failed["pipeline"] == "data"  # type: ignore[index]
        assert _query(prom, expressions["DataPipelineSLAMissed"])
        assert not _query(prom, expressions["DataPipelineCompleted"])
        scraped = _query(prom, 'pipeline_duration_seconds{pipeline="data"}')[0]["metric"]
        assert scraped["job"] == "pipelines", "honor_labels keeps the pushed job"  # type: ignore[index]
        assert scraped["environment"] == "prod"  # type: ignore[index]


def test_hourly_health_fetches_the_bundle_from_s3_and_pushes_what_the_drift_alert_reads(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str
) -> None:
    import boto3
    import numpy as np

    from tests.monitoring.test_monitor_cli import _bundle, _store, _table

    rng = np.random.default_rng(3)
    sha = _bundle(workdir / "bundle.json", _table(rng, 500))
    boto3.client("s3").create_bucket(Bucket="trading-prod-mlflow-artifacts-123456789012")
    uri = "s3://trading-prod-mlflow-artifacts-123456789012/1/abc/artifacts/bundle.json"
    boto3.client("s3").upload_file(str(workdir / "bundle.json"), *uri[5:].split("/", 1))
    manifest = {"model": {"name": "m", "version": "7", "artifact": {"uri": uri, "sha256": sha}}}
    (workdir / "model.yaml").write_text(yaml.safe_dump(manifest))
    _store(workdir / "data/features", rng, shift=2.0)
    with pushgateway(workdir) as gateway, prometheus(workdir, gateway) as prom:
        monkeypatch.setenv("PUSHGATEWAY_URL", gateway)
        assert main(["monitor", "health", "--manifest", "model.yaml"]) == 20
        expression = _rule_expr("FeaturePSICritical")
        wait_until(
            "FeaturePSICritical expression", lambda: bool(_query(prom, expression)), timeout=30
        )
        drifted = {r["metric"]["feature"] for r in _query(prom, expression)}  # type: ignore[index]
        runs = _query(prom, 'pipeline_runs_total{pipeline="feature_health", status="success"}')
    assert drifted == {"f_a"}
    assert runs and runs[0]["metric"]["environment"] == "prod"  # type: ignore[index]
