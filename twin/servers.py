"""How each of the twin's real servers is started, and the condition that says it is ready.

Every start function spawns one process (its own session, log under ``<home>/logs``) and returns
a :class:`Server`: the process, its URL and a readiness condition that :mod:`twin.services`
polls with a deadline. Ports are chosen before anything starts, so servers that point at each
other (Prometheus -> Alertmanager -> sink) can be spawned together.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from twin import procs
from twin.buckets import Buckets
from twin.errors import TwinError
from twin.monitoring_config import write_alertmanager, write_prometheus
from twin.postgres import Postgres
from twin.profile import Monitoring

HOST = "127.0.0.1"
# Dummy credentials for moto; never real ones.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Names of the Debian binaries (overridable for other distributions).
BINARIES = {
    "prometheus": "prometheus",
    "pushgateway": "prometheus-pushgateway",
    "alertmanager": "prometheus-alertmanager",
}


@dataclass
class Server:
    """A spawned server: what :mod:`twin.services` registers and waits on."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    ready: Callable[[], bool]
    timeout: float
    extra: dict[str, Any] = field(default_factory=dict)
    spawned_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Context:
    """What every start function needs: where things go, and each server's port."""

    home: Path
    source: Path
    env: dict[str, str]
    ports: dict[str, int]
    profile: Monitoring

    @property
    def log_dir(self) -> Path:
        """``<home>/logs``."""
        return self.home / "logs"

    def url(self, name: str) -> str:
        """``http://127.0.0.1:<port of name>``."""
        return f"http://{HOST}:{self.ports[name]}"

    def address(self, name: str) -> str:
        """``127.0.0.1:<port of name>``."""
        return f"{HOST}:{self.ports[name]}"


def binary(name: str) -> str:
    """The path of a Debian binary, or a TwinError naming the package."""
    exe = shutil.which(BINARIES[name])
    if exe is None:
        raise TwinError(f"{name}: {BINARIES[name]} not found (apt-get install {BINARIES[name]})")
    return exe


def _fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def start_moto(ctx: Context) -> Server:
    """The moto S3 server (in memory: every ``up`` starts with empty buckets)."""
    argv = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(ctx.ports["moto"])]
    proc = procs.spawn("moto", argv, log_dir=ctx.log_dir, env=ctx.env)
    return Server("moto", proc, ctx.url("moto"), procs.tcp_open(HOST, ctx.ports["moto"]), 60)


def create_buckets(endpoint: str, buckets: Buckets) -> None:
    """Create the Terraform-named buckets (idempotent)."""
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for name in buckets.all():
        if name not in existing:
            s3.create_bucket(Bucket=name)


def start_sink(ctx: Context) -> Server:
    """The notification sink (:mod:`twin.sink`)."""
    out = ctx.home / "sink" / "notifications.jsonl"
    argv = [sys.executable, "-m", "twin.sink", "--port", str(ctx.ports["sink"]), "--out", str(out)]
    proc = procs.spawn("sink", argv, log_dir=ctx.log_dir, env=ctx.env, cwd=ctx.source)
    url = ctx.url("sink")
    return Server("sink", proc, url, procs.http_ok(f"{url}/healthz"), 30, {"file": str(out)})


MLFLOW_ALLOWED_HOSTS = (
    "127.0.0.1:*,localhost:*,mlflow.mlflow.svc:*,mlflow.mlflow.svc.cluster.local:*"
)


def start_pushgateway(ctx: Context) -> Server:
    """Debian's Pushgateway (batch jobs push their run markers here)."""
    # Debian's build persists to /var/lib/prometheus/pushgateway.data by default: a twin keeps
    # its own file (fresh with every up), never the machine's.
    argv = [
        binary("pushgateway"),
        f"--web.listen-address={ctx.address('pushgateway')}",
        f"--persistence.file={ctx.home / 'pushgateway.data'}",
    ]
    proc = procs.spawn("pushgateway", argv, log_dir=ctx.log_dir, env=ctx.env)
    url = ctx.url("pushgateway")
    return Server("pushgateway", proc, url, procs.http_ok(f"{url}/-/ready"), 30)


def start_alertmanager(ctx: Context) -> Server:
    """Debian's Alertmanager with the repository's routes and every receiver on the sink."""
    folder = ctx.home / "alertmanager"
    config = write_alertmanager(ctx.source, folder, ctx.url("sink"), ctx.profile.alertmanager)
    argv = [
        binary("alertmanager"),
        f"--config.file={config}",
        f"--storage.path={_fresh_dir(folder / 'data')}",
        f"--web.listen-address={ctx.address('alertmanager')}",
        "--cluster.listen-address=",
    ]
    proc = procs.spawn("alertmanager", argv, log_dir=ctx.log_dir, env=ctx.env)
    url = ctx.url("alertmanager")
    return Server(
        "alertmanager", proc, url, procs.http_ok(f"{url}/-/ready"), 30, {"config": str(config)}
    )


def start_prometheus(ctx: Context) -> Server:
    """Debian's Prometheus with the repository's rules, the Pushgateway and the pod targets."""
    folder = ctx.home / "prometheus"
    config = write_prometheus(
        ctx.source,
        folder,
        ctx.profile,
        pushgateway=ctx.address("pushgateway"),
        alertmanager=ctx.address("alertmanager"),
    )
    argv = [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={_fresh_dir(folder / 'data')}",
        f"--web.listen-address={ctx.address('prometheus')}",
        "--web.enable-lifecycle",
    ]
    proc = procs.spawn("prometheus", argv, log_dir=ctx.log_dir, env=ctx.env)
    url = ctx.url("prometheus")
    return Server(
        "prometheus",
        proc,
        url,
        procs.http_ok(f"{url}/-/ready"),
        60,
        {"config": str(config), "file_sd": str(folder / "file_sd")},
    )


def start_mlflow(ctx: Context, postgres: Postgres, buckets: Buckets) -> Server:
    """``mlflow server`` on PostgreSQL; artifacts go straight from clients to S3.

    One uvicorn worker: the twin's clients are few, and four workers (the default) cost four
    interpreters with MLflow imported on a 2-core machine. The job runner (seven Huey consumers
    of ~240 MB each, for GenAI scoring jobs the twin never submits) is switched off.
    """
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        postgres.url("mlflow"),
        "--default-artifact-root",
        f"s3://{buckets.mlflow}/",
        "--no-serve-artifacts",
        "--host",
        HOST,
        "--port",
        str(ctx.ports["mlflow"]),
        "--workers",
        "1",
    ]
    env = {
        **ctx.env,
        **AWS_ENV,
        # Pods reach it by its cluster Service name, as the platform's MLflow (Helm values in
        # terraform/modules/argo) is reached; MLflow refuses other Host headers.
        "MLFLOW_SERVER_ALLOWED_HOSTS": MLFLOW_ALLOWED_HOSTS,
        "MLFLOW_S3_ENDPOINT_URL": ctx.url("moto"),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    proc = procs.spawn("mlflow", argv, log_dir=ctx.log_dir, env=env)
    url = ctx.url("mlflow")
    return Server(
        "mlflow",
        proc,
        url,
        procs.http_ok(f"{url}/health"),
        180,
        {"artifact_root": f"s3://{buckets.mlflow}/"},
    )


def start_area(ctx: Context, name: str, command: str) -> Server:
    """Another area's server: ``python -m twin <command> --home H --port P``, ready on /healthz."""
    argv = [
        sys.executable,
        "-m",
        "twin",
        command,
        "--home",
        str(ctx.home),
        "--port",
        str(ctx.ports[name]),
    ]
    proc = procs.spawn(name, argv, log_dir=ctx.log_dir, env=ctx.env, cwd=ctx.source)
    url = ctx.url(name)
    return Server(name, proc, url, procs.http_ok(f"{url}/healthz"), 120)
