"""Disaster recovery steps that run the same against AWS and the twin (S3 through boto3).

- The MLflow database: a logical backup (``pg_dump`` custom format) to a versioned S3 prefix,
  and its restore into an empty or damaged database (created if missing). RDS point-in-time
  recovery is the first choice on AWS (docs/runbooks/disaster-recovery.md); these dumps are the
  second line and what the twin drills.
- S3 objects deleted from a versioned bucket (the DVC remote, artifacts): removing the delete
  markers brings back the previous versions.
- The registry agrees with git again: every manifest's model version is known with its digest.

The PostgreSQL connection is a URL (``postgresql://user:pass@host:port/db``) or, without one,
libpq's environment (``PGHOST``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``, ...).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pipelines.errors import PipelineError
from pipelines.io.atomic import atomic_path

DUMP_SUFFIX = ".dump"
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_TIMEOUT_SECONDS = 3600


class RecoveryError(PipelineError):
    """A recovery step could not be completed."""


def _s3() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def split_s3(url: str) -> tuple[str, str]:
    """``(bucket, key or prefix)`` of an ``s3://`` URL.

    Raises:
        RecoveryError: Not an s3:// URL with a bucket.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise RecoveryError(f"{url}: expected s3://bucket/prefix")
    return parts.netloc, parts.path.lstrip("/")


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    tool = shutil.which(command[0])
    if tool is None:
        raise RecoveryError(f"{what}: {command[0]} is not installed (postgresql-client)")
    try:
        proc = subprocess.run(  # noqa: S603 - a PostgreSQL client with fixed options
            [tool, *command[1:]],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_SECONDS,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise RecoveryError(f"{what}: {command[0]} did not finish in time") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise RecoveryError(f"{what}: {command[0]}: {lines[0].strip()}")


def _connection(database_url: str | None) -> list[str]:
    return [f"--dbname={database_url}"] if database_url else []


def backup_database(destination: str, database_url: str | None = None) -> str:
    """Dump the database and store it as ``<destination><UTC time>.dump``; return its URL."""
    bucket, prefix = split_s3(destination)
    key = f"{prefix}{datetime.now(UTC):%Y%m%dT%H%M%SZ}{DUMP_SUFFIX}"
    with tempfile.TemporaryDirectory(prefix="mlflow-backup-") as scratch:
        dump = Path(scratch) / "mlflow.dump"
        command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"]
        _run([*command, *_connection(database_url)], "backup")
        _s3().upload_file(str(dump), bucket, key)
    return f"s3://{bucket}/{key}"


def latest_backup(source: str) -> str:
    """``source`` itself when it names a dump, else the newest dump under that prefix.

    Raises:
        RecoveryError: No dump under the prefix.
    """
    bucket, prefix = split_s3(source)
    if prefix.endswith(DUMP_SUFFIX):
        return source
    pages = _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [
        item["Key"]
        for page in pages
        for item in page.get("Contents") or []
        if item["Key"].endswith(DUMP_SUFFIX)
    ]
    if not keys:
        raise RecoveryError(f"{source}: no {DUMP_SUFFIX} backup under this prefix")
    # Keys carry their UTC time, so the greatest is the newest.
    return f"s3://{bucket}/{max(keys)}"


def _maintenance_url(database_url: str) -> tuple[str, str]:
    """``(URL of the maintenance database, name of the target database)``."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name:
        raise RecoveryError(f"database URL of host {parts.hostname}: names no database")
    return urlunsplit(parts._replace(path="/postgres")), name


def _ensure_database(database_url: str | None) -> None:
    """Create the target database when it is gone (a restore needs an empty one to exist)."""
    if database_url:
        maintenance, name = _maintenance_url(database_url)
        exists = ["psql", f"--dbname={maintenance}"]
    else:
        name = os.environ.get("PGDATABASE", "")
        if not name:
            raise RecoveryError("restore: give --database-url or set PGDATABASE")
        exists = ["psql", "--dbname=postgres"]
    if not _DATABASE_NAME.fullmatch(name):
        raise RecoveryError(f"restore: database name {name!r}: letters, digits, _ and - only")
    query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"  # noqa: S608 - name checked
    tool = shutil.which("psql")
    if tool is None:
        raise RecoveryError("restore: psql is not installed (postgresql-client)")
    proc = subprocess.run(  # noqa: S603 - psql with a fixed query
        [tool, *exists[1:], "--tuples-only", "--no-align", f"--command={query}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise RecoveryError(f"restore: cannot reach the server: {lines[0].strip()}")
    if proc.stdout.strip() != "1":
        _run([*exists, f'--command=CREATE DATABASE "{name}"'], "restore")


def restore_database(source: str, database_url: str | None = None) -> str:
    """Restore the newest dump under ``source`` (or the dump it names); return its URL."""
    chosen = latest_backup(source)
    bucket, key = split_s3(chosen)
    with tempfile.TemporaryDirectory(prefix="mlflow-restore-") as scratch:
        dump = Path(scratch) / "mlflow.dump"
        with atomic_path(dump) as part:
            _s3().download_file(bucket, key, str(part))
        _ensure_database(database_url)
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                *_connection(database_url),
                str(dump),
            ],
            "restore",
        )
    return chosen


def undelete(url: str, since: datetime | None = None) -> list[str]:
    """Remove the delete markers under ``url`` (newer than ``since``); return the keys restored."""
    bucket, prefix = split_s3(url)
    client = _s3()
    restored: list[str] = []
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for marker in page.get("DeleteMarkers") or []:
            if not marker.get("IsLatest"):
                continue
            if since is not None and marker["LastModified"] < since:
                continue
            client.delete_object(Bucket=bucket, Key=marker["Key"], VersionId=marker["VersionId"])
            restored.append(str(marker["Key"]))
    return sorted(restored)


def registry_problems(manifests: list[Path], tracking_uri: str) -> list[str]:
    """Manifests whose model version (with its digest) the registry does not know."""
    from pipelines.delivery.digests import MlflowRegistry
    from pipelines.registry.manifest import model_key, read_manifest

    registry = MlflowRegistry(tracking_uri)
    problems: list[str] = []
    for path in manifests:
        key = model_key(read_manifest(path))
        if key is None:
            continue
        name, version, sha256 = key
        if not registry.knows(name, version, sha256):
            problems.append(f"{path}: {name} {version} (sha256 {sha256[:12]}) unknown to MLflow")
    return problems
