"""The data stages through real `dvc repro` in a throw-away copy of the repository.

One copy serves both tests: a first `dvc repro data_health` runs the four data stages on the
bundled data and a second one has nothing to do; then the outputs go to an S3 remote on a local
moto server (remote `verify` on), the cache and workspace outputs are wiped, `dvc pull` brings
them back and `dvc repro` again has nothing to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.slow

COPIED = ["pipelines", "params.yaml", "dvc.yaml", "data/sample", ".dvcignore"]
UP_TO_DATE = "Data and pipelines are up to date."


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true", DVC_NO_ANALYTICS="1")
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    # moto's dummy credentials: the remote is a local moto server, never AWS.
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")  # noqa: S106
    env.pop("AWS_PROFILE", None)
    return env


def _run(folder: Path, *argv: str) -> str:
    result = subprocess.run(
        list(argv), cwd=folder, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def repo_copy(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("repo")
    for name in COPIED:
        source = repo_root / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, folder / name)
    _run(folder, "git", "init", "-q")
    _run(folder, sys.executable, "-m", "dvc", "init", "-q")
    _run(folder, "git", "add", "-A")
    _run(folder, "git", "commit", "-qm", "copy")
    first = _run(folder, sys.executable, "-m", "dvc", "repro", "data_health")
    for stage in ("ingest", "validate", "features", "data_health"):
        assert f"Running stage '{stage}'" in first
    return folder


def test_second_repro_is_up_to_date(repo_copy: Path) -> None:
    second = _run(repo_copy, sys.executable, "-m", "dvc", "repro", "data_health")
    assert "Running stage" not in second and UP_TO_DATE in second
    assert (repo_copy / "data/features/_metadata.json").exists()
    assert (repo_copy / "reports/validation.json").exists()


def test_push_wipe_pull_then_nothing_to_run(repo_copy: Path, moto_server: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (moto's dummy credentials)
    )
    s3.create_bucket(Bucket="dvc-remote")
    dvc = (sys.executable, "-m", "dvc")
    _run(repo_copy, *dvc, "remote", "add", "-d", "store", "s3://dvc-remote/cache")
    _run(repo_copy, *dvc, "remote", "modify", "store", "endpointurl", moto_server)
    _run(repo_copy, *dvc, "remote", "modify", "store", "verify", "true")
    _run(repo_copy, *dvc, "push", "--with-deps", "data_health")
    assert s3.list_objects_v2(Bucket="dvc-remote")["KeyCount"] > 0

    shutil.rmtree(repo_copy / ".dvc/cache")
    wiped = ["data/raw", "data/ingested", "data/quarantine", "data/validated", "data/features"]
    wiped += ["data/labels", "data/health"]
    for name in wiped:
        shutil.rmtree(repo_copy / name)
    status = _run(repo_copy, *dvc, "status", "--with-deps", "data_health")
    assert "deleted" in status

    _run(repo_copy, *dvc, "pull", "--with-deps", "data_health")
    assert (repo_copy / "data/ingested/bars.parquet").exists()
    again = _run(repo_copy, *dvc, "repro", "data_health")
    assert "Running stage" not in again and UP_TO_DATE in again
