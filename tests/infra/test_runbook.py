"""The disaster-recovery runbook's command blocks: well formed offline, and the database ones run.

Offline: every runnable block parses as bash, reads only its declared variables, and its
``pipelines``, ``dvc`` and ``aws`` lines are accepted by the tools' own parsers and botocore's
models; the names it builds from ``$NAME_PREFIX`` are names Terraform gives. A copy of the
runbook with one mistake per block must be caught. Then the twin blocks for the MLflow database
are executed as written, against a real PostgreSQL and moto's S3 (the lead's twin drill runs
them all in the production twin).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipelines.errors import PipelineError
from pipelines.infra.hcl import load_tree
from pipelines.infra.runbook import RunbookBlock, runnable_blocks
from pipelines.infra.runbook_checks import (
    block_problems,
    terraform_name_problems,
    terraform_names,
)
from tests.conftest import REPO_ROOT, require_tool
from tests.infra.helpers import psql as _psql

RUNBOOK = REPO_ROOT / "docs" / "runbooks" / "disaster-recovery.md"


@pytest.fixture(scope="module")
def blocks() -> dict[str, RunbookBlock]:
    return {block.name: block for block in runnable_blocks(RUNBOOK)}


def test_each_loss_has_a_block_the_twin_can_run(blocks: dict[str, RunbookBlock]) -> None:
    assert sorted(blocks) == [
        "cluster-deploy-tokens",
        "cluster-rebuild",
        "cluster-redeploy",
        "dvc-cache-restore",
        "dvc-remote-undelete",
        "mlflow-db-backup",
        "mlflow-db-check",
        "mlflow-db-point-in-time",
        "mlflow-db-restore",
    ]
    twin = {name for name, block in blocks.items() if "twin" in block.targets}
    assert {"cluster-redeploy", "mlflow-db-restore", "mlflow-db-check", "dvc-cache-restore"} <= twin
    # MLflow is stopped while its database is replaced: the restore must not need it.
    assert "MLFLOW_TRACKING_URI" not in blocks["mlflow-db-restore"].script
    for name in twin:
        assert "NAME_PREFIX" not in blocks[name].script, f"{name}: no AWS names in a twin block"


def test_every_block_is_well_formed(blocks: dict[str, RunbookBlock]) -> None:
    require_tool("bash")
    names = terraform_names(load_tree(REPO_ROOT / "terraform"))
    problems = [p for b in blocks.values() for p in block_problems(b)]
    problems += [p for b in blocks.values() for p in terraform_name_problems(b, names)]
    assert problems == []


def _broken(tmp_path: Path, old: str, new: str) -> dict[str, RunbookBlock]:
    text = RUNBOOK.read_text(encoding="utf-8")
    assert old in text, f"fixture anchor missing: {old!r}"
    path = tmp_path / "disaster-recovery.md"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return {block.name: block for block in runnable_blocks(path)}


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        (
            "mlflow-db-restore",
            'restore-db --from "$MLFLOW_BACKUP_URL"',
            'restore-db --source "$MLFLOW_BACKUP_URL"',
            "the following arguments are required: --from",
        ),
        (
            "mlflow-db-backup",
            'backup-db --to "$MLFLOW_BACKUP_URL"',
            'backup-db --to "$MLFLOW_BACKUPS"',
            "$MLFLOW_BACKUPS is neither in env= nor set here",
        ),
        (
            "dvc-cache-restore",
            "dvc status --quiet --with-deps data_health\n```\n\nObjects",
            "dvc stats --quiet\n```\n\nObjects",
            "invalid choice: 'stats'",
        ),
        (
            "mlflow-db-point-in-time",
            "--no-publicly-accessible --copy-tags",
            "--no-public --copy-tags",
            "aws rds restore-db-instance-to-point-in-time: no option --no-public",
        ),
        (
            "mlflow-db-point-in-time",
            '"$NAME_PREFIX-mlflow-pg16"',
            '"$NAME_PREFIX-mlflow-pg15"',
            "$NAME_PREFIX-mlflow-pg15: Terraform names nothing so",
        ),
        (
            "cluster-redeploy",
            "set -euo pipefail\ncluster=()",
            "cluster=()",
            "must start with `set -euo pipefail`",
        ),
        ("dvc-remote-undelete", 'then since=(--since "$DELETED_AFTER"); fi', "then", "bash -n:"),
    ],
)
def test_a_broken_block_is_caught(
    tmp_path: Path, name: str, old: str, new: str, expected: str
) -> None:
    require_tool("bash")
    block = _broken(tmp_path, old, new)[name]
    names = terraform_names(load_tree(REPO_ROOT / "terraform"))
    problems = block_problems(block) + terraform_name_problems(block, names)
    assert any(expected in p for p in problems), problems


def test_a_marker_without_its_block_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "runbook.md"
    path.write_text("<!-- runnable: name=x targets=twin -->\n\nno fence\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"runbook\.md:1: .* followed by ```bash"):
        runnable_blocks(path)
    path.write_text("<!-- runnable: name=x targets=moon -->\n```bash\n```\n", encoding="utf-8")
    with pytest.raises(PipelineError, match="targets must be among"):
        runnable_blocks(path)


def _run(block: RunbookBlock, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    missing = [name for name in block.env if name not in env]
    assert missing == [], f"{block.name} needs {missing}"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "-c", block.script],
        cwd=REPO_ROOT,
        env={**os.environ, **env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_the_database_blocks_run_as_written(
    blocks: dict[str, RunbookBlock],
    s3_endpoint: str,
    postgres: str,
    tmp_path: Path,
) -> None:
    bucket = f"dr-runbook-{os.getpid()}"
    s3: Any = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    admin = postgres.rsplit("/", 1)[0] + "/postgres"
    _psql(admin, "CREATE DATABASE mlflow")
    _psql(postgres, "CREATE TABLE registered_models (name text primary key)")
    _psql(postgres, "INSERT INTO registered_models VALUES ('strategy-lgbm')")
    env = {
        "MLFLOW_DATABASE_URL": postgres,
        "MLFLOW_BACKUP_URL": f"s3://{bucket}/backups/mlflow-db/",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    backup = _run(blocks["mlflow-db-backup"], env)
    assert backup.returncode == 0, backup.stderr
    _psql(admin, "DROP DATABASE mlflow")
    restore = _run(blocks["mlflow-db-restore"], env)
    assert restore.returncode == 0, restore.stderr
    assert "restored: s3://" in restore.stdout
    check = _run(blocks["mlflow-db-check"], env)  # MLflow started again on the restored store
    assert check.returncode == 0, check.stderr
    assert "manifest(s) agree" in check.stdout
    assert _psql(postgres, "SELECT name FROM registered_models") == "strategy-lgbm"
