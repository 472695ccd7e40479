"""``python -m twin up|down|status``: start the twin's servers, stop them by PID, report them.

``up`` starts moto (S3 with the Terraform-named buckets), PostgreSQL, the MLflow server, the
Pushgateway, Alertmanager, Prometheus and the notification sink, then the fake GitHub and the
fake cluster when those areas exist, seeds them, and prints every URL and the environment a
client needs (also kept in ``state.json`` under ``env``). Each process is registered in
``<home>/state.json`` as soon as it is spawned, so a failed ``up`` and every ``down`` stop
exactly what was started, by process group, and wait until each port is free.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from twin import postgres, procs, servers, state
from twin.buckets import LANDING_PREFIX, bucket_names
from twin.errors import TwinError
from twin.profile import apply_profile, monitoring
from twin.teardown import down, running

_LOG = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]
PORTS = ("moto", "sink", "pushgateway", "alertmanager", "prometheus", "mlflow", "github", "cluster")
# Other helpers' servers: state name, importable module, sub-command.
AREAS = (
    ("github", "twin.github.server", "github-serve"),
    ("cluster", "twin.cluster.server", "cluster-serve"),
)
_TELEMETRY = {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1"}


def _register(home: Path, server: servers.Server) -> None:
    state.register(
        home,
        server.name,
        pid=server.proc.pid,
        url=server.url,
        log=str(home / "logs" / f"{server.name}.log"),
        started_at=time.time(),
        **server.extra,
    )


def _wait(home: Path, server: servers.Server) -> float:
    """Wait until ``server`` is ready; seconds from its spawn to ready."""
    procs.wait_until(
        server.name,
        server.ready,
        timeout=server.timeout,
        proc=server.proc,
        on_fail=lambda: procs.log_tail(home / "logs", server.name),
    )
    return time.monotonic() - server.spawned_at


def client_env(
    home: Path, urls: dict[str, str], pg: postgres.Postgres, buckets: Any
) -> dict[str, str]:
    """The environment a client of the twin needs (endpoints, dummy credentials, buckets)."""
    return {
        **_TELEMETRY,
        **servers.AWS_ENV,
        "TWIN_HOME": str(home),
        "AWS_ENDPOINT_URL": urls["moto"],
        "MLFLOW_TRACKING_URI": urls["mlflow"],
        "MLFLOW_S3_ENDPOINT_URL": urls["moto"],
        "PROMETHEUS_URL": urls["prometheus"],
        "PUSHGATEWAY_URL": urls["pushgateway"],
        "ALERTMANAGER_URL": urls["alertmanager"],
        "TWIN_SINK_URL": urls["sink"],
        "OPTUNA_STORAGE": pg.url("optuna"),
        "TWIN_BUCKET_DVC": buckets.dvc,
        "TWIN_BUCKET_RAW": buckets.raw,
        "TWIN_BUCKET_MLFLOW": buckets.mlflow,
        "TWIN_RAW_PREFIX": LANDING_PREFIX,
    }


def start_core(home: Path, source: Path) -> dict[str, float]:
    """Start the real servers (registered in state.json); seconds each took to be ready."""
    ports = {name: procs.free_port() for name in PORTS}
    base_env = {**os.environ, **_TELEMETRY}
    ctx = servers.Context(home, source, base_env, ports, monitoring())
    buckets = bucket_names(source)
    spawned = []
    for start in (
        servers.start_moto,
        servers.start_sink,
        servers.start_pushgateway,
        servers.start_alertmanager,
        servers.start_prometheus,
    ):
        spawned.append(start(ctx))
        _register(home, spawned[-1])
    timings: dict[str, float] = {}
    began = time.monotonic()
    pg_proc, pg = postgres.start(home, ctx.log_dir)
    state.register(
        home,
        "postgres",
        pid=pg_proc.pid,
        url=f"postgresql://127.0.0.1:{pg.port}",
        port=pg.port,
        data_dir=str(pg.data_dir),
        log=str(ctx.log_dir / "postgres.log"),
        databases={db: pg.url(db) for db in postgres.DATABASES},
    )
    procs.wait_until(
        "postgres",
        lambda: postgres.accepts_connections(pg),
        timeout=60,
        proc=pg_proc,
        on_fail=lambda: procs.log_tail(ctx.log_dir, "postgres"),
    )
    postgres.create_databases(pg)
    timings["postgres"] = time.monotonic() - began
    mlflow = servers.start_mlflow(ctx, pg, buckets)
    _register(home, mlflow)
    for server in spawned:
        timings[server.name] = _wait(home, server)
        if server.name == "moto":
            servers.create_buckets(server.url, buckets)
    timings["mlflow"] = _wait(home, mlflow)
    urls = {s.name: s.url for s in [*spawned, mlflow]}
    state.set_env(home, **client_env(home, urls, pg, buckets))
    return timings


def start_areas(home: Path, source: Path) -> None:
    """The fake GitHub and cluster when built (each registers itself too), then seed them."""
    ctx = servers.Context(
        home,
        source,
        {**os.environ, **state.load(home)["env"]},
        {name: procs.free_port() for name, _, _ in AREAS},
        monitoring(),
    )
    for name, module, command in AREAS:
        if importlib.util.find_spec(module) is None:
            sys.stdout.write(f"twin: {name}: not built yet ({module} missing), skipped\n")
            continue
        server = servers.start_area(ctx, name, command)
        _register(home, server)
        _wait(home, server)
    checkout: Path | None = None
    if importlib.util.find_spec("twin.github.seed") is not None:
        seed = importlib.import_module("twin.github.seed")
        seed.seed(home, source, apply_profile)
        checkout = _origin_checkout(home)
        _mint_dispatch_token(home)
    else:
        sys.stdout.write("twin: github seed: not built yet (twin.github.seed missing), skipped\n")
    if importlib.util.find_spec("twin.cluster.bootstrap") is not None:
        bootstrap = importlib.import_module("twin.cluster.bootstrap")
        bootstrap.bootstrap(home, checkout or _profiled_checkout(home, source))
    else:
        sys.stdout.write(
            "twin: cluster bootstrap: not built yet (twin.cluster.bootstrap), skipped\n"
        )
    if checkout is not None and "cluster" not in state.load(home)["services"]:
        sys.stdout.write("twin: github settings: need the cluster's Argo address, skipped\n")
    elif checkout is not None:
        from twin.github import runner_cache
        from twin.github.actions_setup import machine_uv
        from twin.github.client import GitHubTwinClient
        from twin.iam_roles import create_roles
        from twin.repo_settings import runner_env, runner_tools, settings

        uv = machine_uv(runner_tools().get("uv"))
        if uv is not None:
            runner_cache.warm(checkout, str(uv), runner_env(), home)
        config = settings(home, checkout)
        GitHubTwinClient.from_home(home).configure(**config)
        create_roles(state.load(home)["env"], config)


def _mint_dispatch_token(home: Path) -> None:
    """The App installation token the cluster's Secret github-dispatch holds (clone, dispatch)."""
    from twin.github.client import GitHubTwinClient
    from twin.repo_settings import BOT_LOGIN

    record = state.service(home, "github")
    token = GitHubTwinClient.from_home(home).mint_token(
        "app", BOT_LOGIN, {"contents": "write", "actions": "write"}
    )
    state.register(home, "github", **{**record, "dispatch_token": token})


def _origin_checkout(home: Path) -> Path:
    """A clone of the twin origin's ``main`` (what the cluster bootstraps from)."""
    target = home / "checkout"
    if target.exists():
        shutil.rmtree(target)
    origin = Path(state.service(home, "github")["folder"]) / "repos" / "trading-pipelines"
    subprocess.run(  # noqa: S603
        ["git", "clone", "--quiet", str(origin / "gitops.git"), str(target)],  # noqa: S607
        check=True,
    )
    return target


def _profiled_checkout(home: Path, source: Path) -> Path:
    """A copy of ``source``'s committed tree with the twin profile applied (no seed to give one)."""
    target = home / "checkout"
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["git", "clone", "--quiet", str(source), str(target)], check=True)  # noqa: S603, S607
    apply_profile(target)
    return target


def _wipe(home: Path) -> None:
    """Every up starts from nothing: run folders, objects and logs of a previous twin go."""
    if home.is_dir() and (home.name == ".twin" or (home / "state.lock").exists()):
        shutil.rmtree(home)


def up(source: Path, home: Path) -> dict[str, float]:
    """Start the whole twin; on any failure stop what was started and raise."""
    alive = running(home)
    if alive:
        raise TwinError(
            f"a twin is already running in {home} ({', '.join(sorted(alive))}); "
            "run `python -m twin down` first"
        )
    down(home, quiet=True)  # forget stale records of a twin that died
    _wipe(home)
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    try:
        timings = start_core(home, source)
        start_areas(home, source)
    except BaseException:
        down(home, quiet=True)
        raise
    return timings


def _up(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per readiness poll otherwise
    source = Path(args.source).resolve()
    home = Path(args.home).resolve() if args.home else state.default_home(source)
    began = time.monotonic()
    timings = up(source, home)
    doc = state.load(home)
    for name, record in sorted(doc["services"].items()):
        took = f" (ready in {timings[name]:.1f}s)" if name in timings else ""
        sys.stdout.write(f"{name:14s} {record.get('url', '')}  pid {record.get('pid')}{took}\n")
    sys.stdout.write(
        f"twin up in {time.monotonic() - began:.1f}s; state: {home / state.STATE_FILE}\n"
    )
    sys.stdout.write("# client environment:\n")
    for key, value in sorted(doc["env"].items()):
        sys.stdout.write(f"export {key}={value}\n")
    return 0


def _down(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve() if args.home else state.default_home(REPO_ROOT)
    if not down(home):
        sys.stdout.write(f"twin: nothing running in {home}\n")
    return 0


def _status(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve() if args.home else state.default_home(REPO_ROOT)
    services = state.load(home)["services"]
    if not services:
        sys.stdout.write(f"twin: not running ({home})\n")
        return 0
    dead = 0
    for name, record in sorted(services.items()):
        pid = record.get("pid")
        ok = isinstance(pid, int) and procs.alive(pid)
        dead += not ok
        sys.stdout.write(
            f"{name:14s} {'up  ' if ok else 'DEAD'} pid {pid} {record.get('url', '')}\n"
        )
    return 1 if dead else 0


def register(subparsers: Any) -> None:
    """Add ``up``, ``down`` and ``status`` to the twin's command line."""
    for name, handler, text in (
        ("up", _up, "start the twin and print its URLs and client env"),
        ("down", _down, "stop everything the twin started, by PID"),
        ("status", _status, "list the twin's processes"),
    ):
        parser = subparsers.add_parser(name, help=text, description=text)
        parser.add_argument("--home", help="state folder (default: $TWIN_HOME or <repo>/.twin)")
        if name == "up":
            parser.add_argument(
                "--source", default=str(REPO_ROOT), help="source tree (default: this repository)"
            )
        parser.set_defaults(handler=handler)
