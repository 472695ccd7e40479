"""HTTP behaviour of the app: bad requests get a clear 4xx, readiness, refused models."""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from pipelines.serving.app import create_app
from pipelines.serving.params import ServingParams
from pipelines.serving.source import ModelRef, read_manifest

from .conftest import INSTRUMENTS, Bundle, bars_payload, write_env


def ready_client(client: TestClient) -> dict:
    for _ in range(200):
        reply = client.get("/readyz")
        if reply.status_code == 200 or "loading" not in reply.json().get("reason", "loading"):
            return reply.json()
        time.sleep(0.05)
    raise AssertionError("still loading")


def ref_for(bundle: Bundle, sha256: str | None = None) -> ModelRef:
    return ModelRef("strategy", bundle.version, str(bundle.path), sha256 or bundle.sha256)


@pytest.fixture
def client(bundles: dict[str, Bundle]) -> TestClient:
    app = create_app(ref_for(bundles["good"]), INSTRUMENTS, ServingParams(), Path.cwd())
    with TestClient(app) as test_client:
        assert ready_client(test_client)["ready"] is True
        yield test_client


def post(client: TestClient, body: object, instrument: str | None = "KO", raw: bytes | None = None):
    headers = {"X-Instrument": instrument} if instrument else {}
    if raw is not None:
        return client.post("/v1/signal", content=raw, headers=headers)
    return client.post("/v1/signal", json=body, headers=headers)


BAR = {"timestamp": "2020-01-02T00:00:00Z", "close": 50.0}


@pytest.mark.parametrize(
    ("body", "header", "raw", "status", "message"),
    [
        (
            {"instrument": "ZZZZ", "bars": [BAR]},
            "ZZZZ",
            None,
            404,
            "instrument 'ZZZZ' is not served",
        ),
        ({"instrument": "KO", "bars": [BAR]}, "PEP", None, 400, "differs from body instrument"),
        ({"instrument": "KO", "bars": []}, "KO", None, 422, "bars: expected a non-empty list"),
        (
            {"instrument": "KO", "bars": [{"close": 1.0}]},
            "KO",
            None,
            422,
            "bars[0].timestamp: required",
        ),
        (
            {"instrument": "KO", "bars": [{"timestamp": "soon", "close": 1.0}]},
            "KO",
            None,
            422,
            "bars[0].timestamp: expected an ISO-8601",
        ),
        (
            {"instrument": "KO", "bars": [{"timestamp": "2020-01-02", "close": "1"}]},
            "KO",
            None,
            422,
            "bars[0].close: expected a number",
        ),
        (
            {"instrument": "KO", "bars": [{"timestamp": "2020-01-02", "close": -3}]},
            "KO",
            None,
            422,
            "expected a positive price",
        ),
        (
            None,
            "KO",
            b'{"instrument": "KO", "bars": [{"timestamp": "2020-01-02", "close": NaN}]}',
            422,
            "bars[0].close: expected a finite number",
        ),
        (None, "KO", b"not json", 400, "body: expected a JSON object"),
        ({"instrument": "KO", "bars": [BAR, BAR]}, "KO", None, 422, "increasing order"),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    client: TestClient, body, header, raw, status, message
) -> None:
    reply = post(client, body, header, raw)
    assert reply.status_code == status
    assert message in reply.json()["error"]
    assert client.get("/healthz").status_code == 200


def test_a_good_request_after_bad_ones_is_answered(
    client: TestClient, market_bars: pd.DataFrame
) -> None:
    for _ in range(3):
        post(client, {"instrument": "KO", "bars": "nope"})
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:100]
    reply = post(client, {"instrument": "KO", "bars": bars_payload(rows)})
    assert reply.status_code == 200
    got = reply.json()
    assert got["instrument"] == "KO" and got["model_version"] == "good-1"
    assert got["position"] in (-1.0, 0.0, 1.0) and 0.0 <= got["confidence"] <= 1.0
    metrics = client.get("/metrics").text
    labels = 'code="200",instrument="KO",model_version="good-1",traffic="live"'
    assert f"strategy_requests_total{{{labels}}} 1.0" in metrics
    assert 'strategy_ready{model_version="good-1"} 1.0' in metrics


def test_digest_mismatch_stays_not_ready_with_one_log_line(
    bundles: dict[str, Bundle], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "0" * 64
    app = create_app(ref_for(bundles["good"], wrong), INSTRUMENTS, ServingParams(), Path.cwd())
    with caplog.at_level(logging.ERROR, "pipelines.serving"), TestClient(app) as client:
        state = ready_client(client)
        assert state["ready"] is False and "does not match the manifest's" in state["reason"]
        assert client.get("/readyz").status_code == 503
        assert post(client, {"instrument": "KO", "bars": [BAR]}).status_code == 503
        assert client.get("/healthz").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.serving"]
    assert len(lines) == 1 and "sha256" in lines[0] and "\n" not in lines[0]


def test_a_ready_service_freezes_its_start_up_objects(bundles: dict[str, Bundle]) -> None:
    # A full collection over the start-up objects (about 50 ms) would stall every request
    # in flight; frozen, later collections skip them.
    gc.unfreeze()
    try:
        app = create_app(ref_for(bundles["good"]), INSTRUMENTS, ServingParams(), Path.cwd())
        with TestClient(app) as client:
            assert ready_client(client)["ready"] is True
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_manifest_without_model_is_not_ready(tmp_path: Path) -> None:
    manifest, _ = write_env(tmp_path, None)
    assert read_manifest(manifest) is None
    app = create_app(None, INSTRUMENTS, ServingParams(), Path.cwd(), str(manifest))
    with TestClient(app) as client:
        state = ready_client(client)
    assert state["ready"] is False and "model: null" in state["reason"]


def test_manifest_fields_are_checked(tmp_path: Path, bundles: dict[str, Bundle]) -> None:
    from pipelines.errors import ConfigError

    manifest, _ = write_env(tmp_path, bundles["good"], sha256="abc")
    with pytest.raises(ConfigError, match=r"model.artifact.sha256: expected 64 hex digits"):
        read_manifest(manifest)


def test_metrics_use_only_names_from_metric_names(
    client: TestClient, market_bars: pd.DataFrame
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from pipelines.monitoring import metric_names

    rows = market_bars[market_bars["instrument"] == "PEP"].iloc[:100]
    post(client, {"instrument": "PEP", "bars": bars_payload(rows)}, "PEP")
    text = client.get("/metrics").text
    # `_created` samples are prometheus_client's own (disabled in `pipelines serve`).
    samples = {
        s.name
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if not s.name.endswith("_created")
    }
    assert samples <= metric_names.exported_series_names(), (
        samples - metric_names.exported_series_names()
    )
    families = {f.name for f in text_string_to_metric_families(text)}
    service_specs = {
        s.name.removesuffix("_total") for s in metric_names.ALL if s.name.startswith("strategy_")
    }
    # The signed sum cannot be a Prometheus counter (it goes down): exported as gain and loss parts.
    assert service_specs - families == {"strategy_paper_return_sum"}


def test_metrics_include_the_process_cpu_and_memory(client: TestClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from pipelines.monitoring import metric_names

    if not Path("/proc/self/stat").exists():
        pytest.skip("prometheus_client reads process figures from /proc (Linux only)")
    samples = {
        s.name: s.value
        for f in text_string_to_metric_families(client.get("/metrics").text)
        for s in f.samples
    }
    assert samples[metric_names.PROCESS_MEMORY.name] > 1e6  # a Python process with LightGBM
    assert samples[metric_names.PROCESS_CPU.name] > 0
    assert not any(n.startswith("process_") and n.endswith("_fds") for n in samples)
