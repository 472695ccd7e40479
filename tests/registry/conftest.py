"""A real ``mlflow server`` (SQLite backend, artifacts directly in the moto S3), and bundles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from pipelines.data.params import FeatureParams
from pipelines.registry.bundle import PositionRule, bundle_payload, save_bundle
from twin.procs import free_port, http_ok, log_tail, spawn, stop, wait_until

ARTIFACT_BUCKET = "mlflow-artifacts"
FEATURES = ["ret_1", "ret_5", "vol_21", "mom_63", "z_21"]


@dataclass(frozen=True)
class MlflowServer:
    """A running tracking server and the client environment that reaches it and its S3."""

    url: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, moto_server: str
) -> Iterator[MlflowServer]:
    """``mlflow server`` on 127.0.0.1, stopped by its PID when the module is done."""
    import boto3

    creds = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_S3_ENDPOINT_URL": moto_server,
        "AWS_ENDPOINT_URL": moto_server,
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        region_name="us-east-1",
    )
    if ARTIFACT_BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    home = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    env.update(creds, DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true")
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{home / 'mlflow.db'}",
        "--default-artifact-root",
        f"s3://{ARTIFACT_BUCKET}/",
        "--no-serve-artifacts",
        "--workers",
        "1",
    ]
    proc = spawn("mlflow", argv, log_dir=home, env=env, cwd=home)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            "mlflow server",
            http_ok(f"{url}/health"),
            timeout=120,
            proc=proc,
            on_fail=lambda: log_tail(home, "mlflow"),
        )
        yield MlflowServer(url, {**creds, "MLFLOW_TRACKING_URI": url})
    finally:
        stop(proc.pid)


def write_models(root: Path, seed: int) -> str:
    """A real (tiny) LightGBM bundle with its metrics and card under ``root/models``."""
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(300, len(FEATURES))), columns=FEATURES)
    label = (features["ret_1"] + rng.normal(scale=0.5, size=300) > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "seed": seed, "num_threads": 1},
        lgb.Dataset(features.to_numpy(), label=label.to_numpy()),
        num_boost_round=5,
    )
    payload = bundle_payload(
        booster,
        FEATURES,
        FeatureParams(cross_sectional=False),
        "binary",
        1,
        "daily",
        PositionRule(),
        metadata={"data_sha256": "d" * 64, "seed": seed},
        reference=features.head(50),
    )
    models = root / "models"
    models.mkdir(parents=True, exist_ok=True)
    sha = save_bundle(payload, models / "model_bundle.json")
    (models / "metrics.json").write_text(json.dumps({"sharpe": 2.5, "win_rate": 0.56}))
    (models / "card.json").write_text(json.dumps({"bundle_sha256": sha}))
    (models / "card.md").write_text("# card\n")
    (models / "evaluation.json").write_text("{}")
    return sha


def git_repo(root: Path) -> Path:
    """An initialised repository with one commit (provenance needs a commit)."""
    root.mkdir(parents=True, exist_ok=True)
    for args in (
        ["init", "--quiet", "--initial-branch=main"],
        ["config", "user.email", "tests@example.invalid"],
        ["config", "user.name", "tests"],
        ["config", "commit.gpgsign", "false"],
    ):
        subprocess.run(["git", "-C", str(root), *args], check=True)
    (root / ".gitignore").write_text("models/\nreports/\nmlflow.db\nmlruns/\n")
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "--quiet", "-m", "init"], check=True)
    return root
