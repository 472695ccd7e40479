"""The disaster-recovery drill: the MLflow database and a DVC cache are lost, the runbook recovers.

The runbook's own ``runnable`` blocks (``docs/runbooks/disaster-recovery.md``, the twin's
copy on main) run as written, in a clone of main, with the variables its table gives for the
twin: the nightly dump is taken, the database is dropped (``WITH (FORCE)``: the twin's MLflow
cannot be scaled to zero as on AWS, so it keeps running and reconnects) and the clone's DVC
cache and pulled data are deleted; then ``mlflow-db-restore``, ``mlflow-db-check``,
``dvc-cache-restore`` and ``cluster-redeploy``. It ends with the registry as it was, the data
pulled and clean, and prod serving its manifest's model; the table prints the recovery time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipelines.infra.runbook import RunbookBlock, runnable_blocks
from twin import state
from twin.errors import TwinError
from twin.week.argo_runs import tools_image
from twin.week.context import RUN_TIMEOUT, Week
from twin.week.data_nights import _run, restore_clone
from twin.week.delivery import check_serving
from twin.week.training import MODEL

RUNBOOK = Path("docs/runbooks/disaster-recovery.md")
RECOVERY = ("mlflow-db-restore", "mlflow-db-check", "dvc-cache-restore", "cluster-redeploy")


def _versions(week: Week) -> list[tuple[str, str]]:
    client = MlflowClient(week.env["MLFLOW_TRACKING_URI"])
    found = client.search_model_versions(f"name='{MODEL}'")
    return sorted((v.version, str((v.tags or {}).get("bundle_sha256", ""))) for v in found)


def _block(block: RunbookBlock, clone: Path, env: dict[str, str]) -> str:
    missing = [name for name in block.env if not env.get(name)]
    if missing:
        raise TwinError(f"runbook block {block.name}: the twin gives no {', '.join(missing)}")
    what = f"runbook block {block.name}"
    return _run(["bash", "-c", block.script], clone, what, env, timeout=RUN_TIMEOUT).stdout


def _environment(week: Week) -> dict[str, str]:
    """The runbook's variables, valued as its table says for the twin."""
    database = state.service(week.home, "postgres")["databases"]["mlflow"]
    venv = str(Path(sys.executable).parent)
    return {
        **os.environ,
        **week.env,
        "MLFLOW_DATABASE_URL": str(database).replace("postgresql+psycopg2://", "postgresql://"),
        "MLFLOW_BACKUP_URL": f"s3://{week.env['TWIN_BUCKET_MLFLOW']}/backups/mlflow-db/",
        "DVC_REMOTE_URL": f"s3://{week.env['TWIN_BUCKET_DVC']}/cache",
        "TOOLS_IMAGE": tools_image(week),
        "ARGO_SERVER": str(state.service(week.home, "cluster")["argo_url"]),
        "PATH": f"{venv}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _psql(url: str, statement: str) -> str:
    """Run one statement on the server's maintenance database as the twin role; its output."""
    server = url.rpartition("/")[0]
    proc = subprocess.run(  # noqa: S603 - psql with a fixed statement
        ["psql", f"--dbname={server}/postgres", "--tuples-only", "--no-align"]  # noqa: S607
        + ["--command", statement],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise TwinError(f"psql {statement.split()[0]}: {proc.stderr.strip()[:200]}")
    return proc.stdout.strip()


def disaster_recovery(week: Week) -> str:
    """Lose the MLflow database and a DVC cache; the runbook's blocks bring everything back."""
    clone = week.home / "clones" / "disaster"
    restore_clone(week, "disaster")
    blocks = {b.name: b for b in runnable_blocks(clone / RUNBOOK)}
    env = _environment(week)
    before = _versions(week)
    _block(blocks["mlflow-db-backup"], clone, env)  # the nightly dump, taken now
    began = time.time()
    url = env["MLFLOW_DATABASE_URL"]
    name = url.rpartition("/")[2]
    _psql(url, f'DROP DATABASE "{name}" WITH (FORCE)')
    for lost in (
        clone / ".dvc" / "cache",
        clone / "data" / "features",
        clone / "data" / "ingested",
    ):
        shutil.rmtree(lost, ignore_errors=True)
    if _psql(url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):  # noqa: S608
        raise TwinError(f"the MLflow database {name} is still there after DROP DATABASE")
    outputs = {name: _block(blocks[name], clone, env) for name in RECOVERY}
    seconds = time.time() - began
    after = _versions(week)
    if after != before:
        raise TwinError(f"registry after the restore {after} differs from before it {before}")
    if not (clone / "data" / "features").exists():
        raise TwinError("dvc-cache-restore left no data/features in the clone")
    serving = check_serving(week, "prod")
    week.record.figures[
        "disaster recovery (MLflow database and DVC cache lost -> registry back, data pulled, "
        "every environment redeployed)"
    ] = f"{seconds:.0f} s"
    agree = next(
        (line for line in outputs["mlflow-db-check"].splitlines() if "agree" in line), "checked"
    )
    return (
        f"{len(after)} versions back with their digests ({agree.strip()[:80]}); data pulled, "
        f"dvc status clean; {serving}; {seconds:.0f} s from the loss"
    )
