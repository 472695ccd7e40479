"""The deploy's registry calls over REST read and write what the MLflow client does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.registry import rest, versions
from pipelines.registry.versions import RegistryError
from tests.registry.conftest import MlflowServer

MODEL = "rest-model"


@pytest.fixture(scope="module")
def two_versions(mlflow_server: MlflowServer) -> MlflowServer:
    """``rest-model`` versions 1 and 2, made by the MLflow client."""
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    client.create_registered_model(MODEL)
    for digest in ("a" * 64, "b" * 64):
        client.create_model_version(MODEL, "s3://bucket/x", tags={"bundle_sha256": digest})
    return mlflow_server


@pytest.mark.slow
def test_rest_reads_and_writes_what_the_client_sees(
    two_versions: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    url = two_versions.url
    client = MlflowClient(url, url)
    assert rest.applies(url)
    assert versions.version_tags(url, MODEL, "2") == dict(client.get_model_version(MODEL, "2").tags)
    assert versions.version_tags(url, MODEL, "9") is None
    assert versions.version_tags(url, "no-such-model", "1") is None

    versions.record_deployed(url, MODEL, "1", "prod", "img@sha256:" + "c" * 64)
    assert client.get_model_version(MODEL, "1").tags["deployed.prod.image"].endswith("c" * 64)
    assert versions.move_alias(url, MODEL, "prod", "1") is None
    assert versions.move_alias(url, MODEL, "prod", "2") == "1"
    assert client.get_model_version_by_alias(MODEL, "prod").version == "2"
    assert client.get_model_version_by_alias(MODEL, "prod-previous").version == "1"

    with pytest.raises(RegistryError, match=r"rest-model 9: .*HTTP 404"):
        versions.record_rolled_back(url, MODEL, "9", "prod")

    # With an authentication variable the MLflow client makes the same call.
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "unused-by-this-server")
    assert not rest.applies(url)
    assert versions.move_alias(url, MODEL, "prod", "1") == "2"
    assert client.get_model_version_by_alias(MODEL, "prod").version == "1"


@pytest.mark.slow
def test_a_deploys_registry_step_never_imports_mlflow(two_versions: MlflowServer) -> None:
    code = (
        "import sys; from pipelines.registry import versions; "
        f"versions.move_alias({two_versions.url!r}, {MODEL!r}, 'dev', '1'); "
        f"versions.version_tags({two_versions.url!r}, {MODEL!r}, '1'); "
        "print('mlflow' in sys.modules, 'pandas' in sys.modules)"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False"]


def test_an_unreachable_registry_is_retried_then_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.procs import free_port

    slept: list[float] = []
    monkeypatch.setattr(rest.time, "sleep", slept.append)
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError, match=r"MLflow registry http://127\.0\.0\.1:\d+: .*refused"):
        versions.version_tags(url, MODEL, "1")
    assert slept == [0.5, 1.0, 2.0, 4.0]


def test_local_stores_keep_the_mlflow_client() -> None:
    assert not rest.applies("sqlite:///mlflow.db")
    assert not rest.applies("file:///tmp/mlruns")
    assert rest.applies("https://mlflow.example.internal")
