"""Fetching the artifact a manifest names: file paths, file:// and s3:// (moto server)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from pipelines.errors import PipelineError
from pipelines.registry.bundle import load_bundle
from pipelines.serving.source import fetch_artifact

from .conftest import Bundle


@pytest.fixture
def moto(s3_endpoint: str) -> str:
    """The shared moto S3 server (tests/conftest.py) as the default endpoint."""
    return s3_endpoint


def test_s3_artifact_is_downloaded_and_verified(
    moto: str, bundles: dict[str, Bundle], tmp_path: Path
) -> None:
    good = bundles["good"]
    s3 = boto3.client("s3", endpoint_url=moto)
    s3.create_bucket(Bucket="models")
    s3.upload_file(str(good.path), "models", "strategy/good-1.json")
    local = fetch_artifact("s3://models/strategy/good-1.json", tmp_path / "cache")
    assert local == tmp_path / "cache" / "models" / "strategy" / "good-1.json"
    assert load_bundle(local, good.sha256).feature_names
    with pytest.raises(PipelineError, match="s3://models/missing.json: download failed"):
        fetch_artifact("s3://models/missing.json", tmp_path / "cache")


def test_file_uris_and_relative_paths(bundles: dict[str, Bundle], tmp_path: Path) -> None:
    good = bundles["good"]
    assert fetch_artifact(good.path.as_uri(), tmp_path) == good.path
    assert fetch_artifact(good.path.name, tmp_path, base_dir=good.path.parent) == good.path
    with pytest.raises(PipelineError, match="expected a file path, file:// or s3://"):
        fetch_artifact("ftp://host/model.json", tmp_path)
