"""The twin's real servers: started, used as production uses them, stopped with nothing left."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import boto3
import httpx
import psycopg2
import pytest

from tests.conftest import REPO_ROOT
from tests.twin.conftest import TwinServices, fresh_twin_home, require_twin_tools
from twin import procs, sink
from twin.buckets import bucket_names

pytestmark = pytest.mark.slow


def twin(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args, "--home", str(home)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def listening(url: str) -> bool:
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=1).close()
    except OSError:
        return False
    return True


def test_up_prints_urls_refuses_twice_and_down_leaves_no_process_or_port() -> None:
    require_twin_tools()
    home = fresh_twin_home()
    try:
        started = twin("up", home=home)
        assert started.returncode == 0, started.stderr[-2000:]
        doc = json.loads((home / "state.json").read_text())
        records = doc["services"]
        for name in (
            "moto",
            "postgres",
            "mlflow",
            "prometheus",
            "pushgateway",
            "alertmanager",
            "sink",
        ):
            assert name in records, name
            assert records[name]["url"] in started.stdout
            assert procs.alive(records[name]["pid"])
            assert listening(records[name]["url"]), name
        for key in ("AWS_ENDPOINT_URL", "MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL"):
            assert f"export {key}={doc['env'][key]}" in started.stdout
        again = twin("up", home=home)
        assert again.returncode == 1
        assert again.stderr.strip().count("\n") == 0 and "already running" in again.stderr
        assert twin("status", home=home).returncode == 0
    finally:
        stopped = twin("down", home=home)
    assert stopped.returncode == 0, stopped.stderr
    for name, record in records.items():
        assert not procs.alive(record["pid"]), f"{name} still running"
        assert not listening(record["url"]), f"{name} still holds {record['url']}"
    assert not (home / "state.json").exists()
    assert twin("down", home=home).returncode == 0  # nothing running is fine
    shutil.rmtree(home)


def test_buckets_exist_and_mlflow_writes_artifacts_straight_to_s3(
    twin_services: TwinServices, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in twin_services.env.items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert set(bucket_names(REPO_ROOT).all()) <= names
    import mlflow

    mlflow.set_tracking_uri(twin_services.env["MLFLOW_TRACKING_URI"])
    # By name on this server: an earlier test's active experiment id (mlflow keeps it per
    # process, and in MLFLOW_EXPERIMENT_ID) names an experiment of another server.
    mlflow.set_experiment("twin-services-check")
    artifact = tmp_path / "bundle.json"
    artifact.write_text('{"model": 1}')
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(artifact))
    uri = run.info.artifact_uri
    bucket = twin_services.env["TWIN_BUCKET_MLFLOW"]
    assert uri.startswith(f"s3://{bucket}/")
    key = uri.removeprefix(f"s3://{bucket}/") + "/bundle.json"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b'{"model": 1}'
    # The backend store is PostgreSQL: the run is a row in the mlflow database.
    dsn = urlparse(twin_services.env["OPTUNA_STORAGE"])
    with (
        psycopg2.connect(
            host=dsn.hostname,
            port=dsn.port,
            user=dsn.username,
            password=dsn.password,
            dbname="mlflow",
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", (run.info.run_id,))
        assert cur.fetchone() == (1,)


def test_optuna_storage_is_the_twin_postgres(twin_services: TwinServices) -> None:
    import optuna

    study = optuna.create_study(
        storage=twin_services.env["OPTUNA_STORAGE"], study_name="twin-check"
    )
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    loaded = optuna.load_study(study_name="twin-check", storage=twin_services.env["OPTUNA_STORAGE"])
    assert len(loaded.trials) == 2


def test_a_failed_data_run_pages_through_the_pagerduty_route(twin_services: TwinServices) -> None:
    """Pushgateway -> Prometheus (repository rule, profile `for:`) -> Alertmanager -> sink."""
    began = time.time()
    body = f"pipeline_last_failure_timestamp_seconds {began}\n"
    push = httpx.put(
        f"{twin_services.url('pushgateway')}/metrics/job/data/pipeline/data", content=body
    )
    assert push.status_code == 200
    entry = sink.wait_for(
        twin_services.url("sink"),
        lambda e: (
            "DataPipelineFailed" in sink.alert_names(e) and e["payload"]["status"] == "firing"
        ),
        receiver="pagerduty-critical",
        timeout=90,
    )
    assert entry["payload"]["commonLabels"]["severity"] == "critical"
    assert entry["payload"]["receiver"] == "pagerduty-critical"
    assert entry["received_at"] - began < 60  # profile: for 5s, 1s scrape and evaluation
    others = [
        e
        for e in sink.notifications(twin_services.url("sink"), "slack-warning")
        if "DataPipelineFailed" in sink.alert_names(e)
    ]
    assert others == []


def test_prometheus_scrapes_pod_targets_from_file_sd(twin_services: TwinServices) -> None:
    """The cluster writes ServiceMonitor-like targets; Prometheus picks them up with labels."""
    file_sd = Path(str(twin_services.records["prometheus"]["file_sd"]))
    target = urlparse(twin_services.url("pushgateway")).netloc
    labels = {"job": "strategy-service", "namespace": "trading-dev", "pod": "strategy-1"}
    (file_sd / "trading-dev.json").write_text(json.dumps([{"targets": [target], "labels": labels}]))
    prometheus = twin_services.url("prometheus")

    def scraped() -> bool:
        query = 'up{job="strategy-service",namespace="trading-dev",pod="strategy-1"}'
        result = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}).json()
        return [r["value"][1] for r in result["data"]["result"]] == ["1"]

    procs.wait_until("file_sd target scraped", scraped, timeout=60)
    os.remove(file_sd / "trading-dev.json")
