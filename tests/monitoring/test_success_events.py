"""Counters behind the success criteria: deployments, rollbacks, incidents (textfile path)."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.cli import main
from pipelines.monitoring import incidents
from tests.conftest import REPO_ROOT


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    return tmp_path


def _samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_deployments_are_counted_by_outcome_and_carried_forward(workdir):
    event = ["monitor", "event", "--kind", "deployment", "--env", "prod", "--model-version"]
    for version, status in (("1", "success"), ("2", "failure"), ("2", "success"), ("3", "success")):
        assert main([*event, version, "--status", status]) == 0
    s = _samples((workdir / "reports/metrics/deployment_prod.prom").read_text())
    ok = (("environment", "prod"), ("status", "success"))
    failed = (("environment", "prod"), ("status", "failure"))
    assert s[("model_deployments_total", ok)] == 3
    assert s[("model_deployments_total", failed)] == 1


def test_rollbacks_add_their_duration(workdir, capsys):
    rollback = ["monitor", "event", "--kind", "rollback", "--env", "prod"]
    assert main([*rollback, "--duration", "40"]) == 0
    assert main([*rollback, "--duration", "80"]) == 0
    s = _samples((workdir / "reports/metrics/rollback_prod.prom").read_text())
    env = (("environment", "prod"),)
    assert s[("model_rollbacks_total", env)] == 2
    assert s[("model_rollback_seconds_total", env)] == 120
    assert s[("model_rollback_last_duration_seconds", env)] == 80
    assert main(rollback) == 2
    assert "--duration or --started-at is required" in capsys.readouterr().err


def test_an_incident_is_counted_once_its_failure_recovers():
    failing = (
        'pipeline_last_success_timestamp_seconds{pipeline="data"} 100.0\n'
        'pipeline_last_failure_timestamp_seconds{pipeline="data"} 200.0\n'
    )
    assert incidents.recovered(failing, *_names())
    assert not incidents.recovered(failing.replace("200.0", "50.0"), *_names())
    assert not incidents.recovered("", *_names())
    first = incidents.Incident("DataPipelineFailed", True, 100.0, 160.0, 400.0)
    assert (first.detection_seconds, first.resolution_seconds) == (60.0, 240.0)
    text = generate_latest(incidents.build(None, first)).decode()
    missed = incidents.Incident("DataPipelineFailed", False, resolved_at=500.0)
    second = incidents.build(text, incidents.Incident("DataPipelineFailed", True, 0.0, 30.0, 90.0))
    third = generate_latest(incidents.build(generate_latest(second).decode(), missed)).decode()
    s = _samples(third)
    alert = (("alertname", "DataPipelineFailed"),)
    assert s[("incidents_total", (*alert, ("detected", "true")))] == 2
    assert s[("incidents_total", (*alert, ("detected", "false")))] == 1
    assert s[("incident_detection_seconds_total", alert)] == 90.0
    assert s[("incident_resolution_seconds_total", alert)] == 300.0


def _names() -> tuple[str, str]:
    return (
        "pipeline_last_success_timestamp_seconds",
        "pipeline_last_failure_timestamp_seconds",
    )
