"""Start-up failures are logged at once, shown on /readyz, and fail liveness after a grace."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from starlette.testclient import TestClient

from pipelines.registry.bundle import sha256_file
from pipelines.serving import app as app_module
from pipelines.serving.app import create_app
from pipelines.serving.params import ServingParams, StartupParams
from pipelines.serving.source import ModelRef

from .conftest import INSTRUMENTS, Bundle, ServiceProcess, params_with, write_env


def corrupt(bundle: Bundle, path: Path, how: str) -> Bundle:
    """A copy of the bundle whose LightGBM model is damaged; its digest matches the copy."""
    raw = json.loads(bundle.path.read_text())
    model = raw["lightgbm_model"]
    if how == "tree":  # LightGBM aborts the process while parsing this (std::terminate)
        model = model.replace("leaf_value=", "leaf_valu=", 1)
    else:  # LightGBM raises an error it reports
        model = model.replace("feature_names=", "feature_names=extra ", 1)
    raw["lightgbm_model"] = model
    path.write_text(json.dumps(raw))
    return Bundle(path, sha256_file(path), bundle.version)


def wait_loaded(client: TestClient) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = client.get("/readyz").json()
        if state.get("ready") or "loading" not in state.get("reason", ""):
            return state
        time.sleep(0.05)
    raise AssertionError("still loading after 60 s")


def app_for(ref: ModelRef, grace: float = 60.0, **params: object) -> TestClient:
    cfg = ServingParams(startup=StartupParams(failure_grace_seconds=grace), **params)
    return TestClient(create_app(ref, INSTRUMENTS, cfg, Path.cwd()))


@pytest.mark.parametrize(
    ("how", "cause"),
    [
        ("tree", "corrupt LightGBM model: parsing it aborts (SIGABRT)"),
        ("names", "failed to load: LightGBMError: Wrong size of feature_names"),
    ],
)
def test_corrupt_model_with_matching_digest_is_reported_at_once(
    bundles: dict[str, Bundle],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    how: str,
    cause: str,
) -> None:
    bad = corrupt(bundles["good"], tmp_path / "bad.json", how)
    ref = ModelRef("strategy", "bad-1", str(bad.path), bad.sha256)
    with caplog.at_level(logging.ERROR, "pipelines.serving"), app_for(ref) as client:
        state = wait_loaded(client)
        lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.serving"]
        assert state["ready"] is False and cause in state["reason"]
        assert len(lines) == 1 and cause in lines[0] and "\n" not in lines[0]
        assert client.get("/healthz").status_code == 200  # within the grace period
        assert client.post("/v1/signal", json={}).status_code == 503


def test_liveness_fails_after_the_grace_period(bundles: dict[str, Bundle]) -> None:
    good = bundles["good"]
    ref = ModelRef("strategy", good.version, str(good.path), "0" * 64)
    with app_for(ref, grace=0.5) as client:
        assert "does not match the manifest's" in wait_loaded(client)["reason"]
        deadline = time.monotonic() + 10
        while client.get("/healthz").status_code == 200:
            assert time.monotonic() < deadline, "liveness never failed"
            time.sleep(0.05)
        reply = client.get("/healthz")
        assert reply.status_code == 503 and "restart" in reply.json()["reason"]


def test_unwritable_cache_directory_is_a_load_failure(
    s3_endpoint: str, bundles: dict[str, Bundle], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = bundles["good"]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="startup-models")
    s3.upload_file(str(good.path), "startup-models", "good.json")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    ref = ModelRef("strategy", good.version, "s3://startup-models/good.json", good.sha256)
    with (
        caplog.at_level(logging.ERROR, "pipelines.serving"),
        app_for(ref, grace=0.0, model_cache_dir=str(blocker / "models")) as client,
    ):
        state = wait_loaded(client)
        assert state["ready"] is False and "failed to load" in state["reason"]
        assert str(blocker) in state["reason"]
        assert client.get("/healthz").status_code == 503
    assert any(str(blocker) in r.getMessage() for r in caplog.records)


@pytest.fixture
def hung_fetch(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    release = threading.Event()

    def hang(*_args: object) -> Path:
        release.wait(30)
        raise OSError("released by the test")

    monkeypatch.setattr(app_module, "fetch_artifact", hang)
    yield release
    release.set()


def test_a_hung_load_fails_liveness(
    bundles: dict[str, Bundle], hung_fetch: threading.Event
) -> None:
    good = bundles["good"]
    ref = ModelRef("strategy", good.version, str(good.path), good.sha256)
    cfg = ServingParams(startup=StartupParams(load_timeout_seconds=0.3))
    with TestClient(create_app(ref, INSTRUMENTS, cfg, Path.cwd())) as client:
        started = time.monotonic()
        assert client.get("/readyz").json()["reason"] == "model is loading"
        while (reply := client.get("/healthz")).status_code == 200:
            assert time.monotonic() - started < 10, "liveness never failed"
            time.sleep(0.05)
        assert time.monotonic() - started >= 0.3
        assert "still running" in reply.json()["reason"]
        assert client.get("/readyz").json()["reason"] == "model is loading"
        hung_fetch.set()


@pytest.mark.slow
def test_serve_with_a_corrupt_model_logs_at_once_and_fails_liveness(
    bundles: dict[str, Bundle], tmp_path: Path, service_factory: list[ServiceProcess]
) -> None:
    bad = corrupt(bundles["good"], tmp_path / "bad.json", "tree")
    manifest, settings = write_env(tmp_path / "env", bad)
    params = params_with(tmp_path, startup={"failure_grace_seconds": 1.0})
    svc = ServiceProcess(manifest, settings, tmp_path / "svc.log", params)
    service_factory.append(svc)
    deadline = time.monotonic() + 60
    while "not ready:" not in svc.log.read_text():
        assert svc.proc.poll() is None, svc.log.read_text()
        assert time.monotonic() < deadline, svc.log.read_text()
        time.sleep(0.1)
    line = next(x for x in svc.log.read_text().splitlines() if "not ready:" in x)
    assert "corrupt LightGBM model" in line and str(bad.path) in line
    ready = httpx.get(f"{svc.url}/readyz", timeout=5)
    assert ready.status_code == 503 and "corrupt LightGBM model" in ready.json()["reason"]
    while httpx.get(f"{svc.url}/healthz", timeout=5).status_code == 200:
        assert time.monotonic() < deadline, "liveness never failed"
        time.sleep(0.1)
    assert svc.proc.poll() is None  # restarting it is the kubelet's job
    assert svc.stop() == 0
