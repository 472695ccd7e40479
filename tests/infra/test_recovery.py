"""Disaster-recovery steps against real parts: moto's S3 (versioned), PostgreSQL, MLflow (SQLite).

The twin drill (the lead's) runs the runbook end to end; these tests prove each step alone and
that it fails loudly on bad input.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipelines.cli import main
from pipelines.infra import recovery
from tests.conftest import require_tool
from tests.infra.helpers import psql as _psql
from tests.registry.fixtures import write


@pytest.fixture
def bucket(s3_endpoint: str) -> Iterator[Any]:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    name = f"dr-{os.getpid()}-{datetime.now(UTC):%H%M%S%f}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield s3, name


def test_undelete_brings_back_what_was_deleted(bucket: tuple[Any, str]) -> None:
    s3, name = bucket
    for key, body in (("cache/aa/1", b"one"), ("cache/bb/2", b"two"), ("other/3", b"three")):
        s3.put_object(Bucket=name, Key=key, Body=body)
    for key in ("cache/aa/1", "cache/bb/2", "other/3"):
        s3.delete_object(Bucket=name, Key=key)

    assert recovery.undelete(f"s3://{name}/cache/") == ["cache/aa/1", "cache/bb/2"]
    assert s3.get_object(Bucket=name, Key="cache/aa/1")["Body"].read() == b"one"
    assert "Contents" not in s3.list_objects_v2(Bucket=name, Prefix="other/")
    # Nothing left to undelete under the prefix; a later cut-off skips older deletions.
    assert recovery.undelete(f"s3://{name}/cache/") == []
    future = datetime.now(UTC) + timedelta(hours=1)
    assert recovery.undelete(f"s3://{name}/other/", since=future) == []


def test_latest_backup_is_the_newest_dump(bucket: tuple[Any, str]) -> None:
    s3, name = bucket
    for stamp in ("20261130T010000Z", "20261201T010000Z", "20261129T010000Z"):
        s3.put_object(Bucket=name, Key=f"backups/mlflow-db/{stamp}.dump", Body=b"x")
    prefix = f"s3://{name}/backups/mlflow-db/"
    assert recovery.latest_backup(prefix) == f"{prefix}20261201T010000Z.dump"
    with pytest.raises(recovery.RecoveryError, match="no .dump backup under this prefix"):
        recovery.latest_backup(f"s3://{name}/backups/none/")
    with pytest.raises(recovery.RecoveryError, match="expected s3://bucket/prefix"):
        recovery.latest_backup("/backups/mlflow-db/")


@pytest.mark.slow
def test_registry_check_names_a_manifest_the_registry_does_not_know(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from pipelines.registry.tags import DIGEST_TAG

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("strategy-lgbm")
    client.create_model_version("strategy-lgbm", source=str(tmp_path / "1"))
    client.set_model_version_tag("strategy-lgbm", "1", DIGEST_TAG, "a" * 64)
    known = write(tmp_path / "prod.yaml", "prod", "s3://b/m/1.json", "a" * 64)
    unknown = write(tmp_path / "staging.yaml", "staging", "s3://b/m/2.json", "b" * 64, version="2")

    assert recovery.registry_problems([known], uri) == []
    assert recovery.registry_problems([known, unknown], uri) == [
        f"{unknown}: strategy-lgbm 2 (sha256 bbbbbbbbbbbb) unknown to MLflow"
    ]
    assert main(["recover", "check-registry", str(known), "--tracking-uri", uri]) == 0


@pytest.mark.slow
def test_backup_then_restore_after_the_database_is_dropped(
    bucket: tuple[Any, str], postgres: str
) -> None:
    _, name = bucket
    admin = postgres.rsplit("/", 1)[0] + "/postgres"
    _psql(admin, "CREATE DATABASE mlflow")
    _psql(postgres, "CREATE TABLE registered_models (name text primary key, version int)")
    _psql(postgres, "INSERT INTO registered_models VALUES ('strategy-lgbm', 7)")

    prefix = f"s3://{name}/backups/mlflow-db/"
    assert main(["recover", "backup-db", "--to", prefix, "--database-url", postgres]) == 0
    _psql(admin, "DROP DATABASE mlflow")

    assert main(["recover", "restore-db", "--from", prefix, "--database-url", postgres]) == 0
    assert _psql(postgres, "SELECT name || ':' || version FROM registered_models") == (
        "strategy-lgbm:7"
    )
    # A restore over a damaged database replaces its objects.
    _psql(postgres, "DELETE FROM registered_models")
    recovery.restore_database(prefix, postgres)
    assert _psql(postgres, "SELECT count(*) FROM registered_models") == "1"


def test_restore_without_a_reachable_server_is_one_line(
    bucket: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    require_tool("psql")
    s3, name = bucket
    s3.put_object(Bucket=name, Key="backups/20261201T010000Z.dump", Body=b"not a dump")
    url = "postgresql://nobody:secret@127.0.0.1:9/mlflow"
    assert (
        main(["recover", "restore-db", "--from", f"s3://{name}/backups/", "--database-url", url])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: restore: cannot reach the server: psql: error: connection")
    assert err.count("\n") == 1 and "secret" not in err
