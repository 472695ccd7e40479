"""PostgreSQL for the twin: Debian's server, as RDS runs MLflow's backend store in production.

``initdb`` into ``<home>/postgres`` (fresh on every ``up``: moto keeps S3 in memory, so runs and
their artifacts start empty together), listen on 127.0.0.1 only, unix socket inside the home,
``fsync`` off (a twin, not a database of record). PostgreSQL refuses to run as root, so as root
the cluster belongs to the ``postgres`` user. Databases ``mlflow`` and ``optuna`` are owned by
the role ``twin`` with a password generated per ``up``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from twin import procs
from twin.errors import TwinError

DATABASES = ("mlflow", "optuna")
ROLE = "twin"
SUPERUSER = "postgres"
# A unix socket path longer than this does not fit sockaddr_un (108 bytes with the NUL).
_MAX_SOCKET_PATH = 100
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "60",
}


@dataclass(frozen=True)
class Owner:
    """Who runs the server: the ``postgres`` user when we are root, else ourselves."""

    uid: int | None
    gid: int | None

    @classmethod
    def for_this_process(cls) -> Owner:
        """The ``postgres`` account as root (PostgreSQL refuses root), else nobody to switch to."""
        if os.geteuid() != 0:
            return cls(None, None)
        try:
            account = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise TwinError("postgres: running as root needs the `postgres` user") from None
        return cls(account.pw_uid, account.pw_gid)

    def chown(self, path: Path) -> None:
        """Give ``path`` to the server's user (no-op when not switching users)."""
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def bin_dir() -> Path:
    """The folder of ``initdb``/``postgres``/``pg_ctl``: ``$TWIN_PG_BIN`` or Debian's newest."""
    explicit = os.environ.get("TWIN_PG_BIN")
    if explicit:
        return Path(explicit)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_major)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise TwinError("postgres: initdb not found (apt-get install postgresql, or set TWIN_PG_BIN)")


def _major(path: Path) -> int:
    part = path.parts[-3]
    return int(part) if part.isdigit() else 0


def _check_reachable(path: Path, owner: Owner) -> None:
    """The server's user must traverse every parent folder of its data directory."""
    if owner.uid is None:
        return
    for folder in [path, *path.parents]:
        info = folder.stat()
        mode = info.st_mode
        if not mode & stat.S_IXOTH and info.st_uid != owner.uid:
            raise TwinError(
                f"postgres: user {SUPERUSER} cannot enter {folder} (mode {stat.filemode(mode)}); "
                "use a TWIN_HOME under world-traversable folders"
            )


@dataclass(frozen=True)
class Postgres:
    """A started server: where it listens and how clients log in."""

    port: int
    password: str
    superuser_password: str
    data_dir: Path

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        """SQLAlchemy URL of one database as the ``twin`` role."""
        return f"{driver}://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"


def _run_as(owner: Owner, argv: list[str], what: str, cwd: Path) -> None:
    proc = subprocess.run(  # noqa: S603 - argv built here
        argv,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        user=owner.uid,
        group=owner.gid,
        extra_groups=[] if owner.uid is not None else None,
    )
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise TwinError(f"postgres: {what} failed ({tail})")


def _initdb(home: Path, data: Path, owner: Owner, superuser_password: str) -> None:
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True, mode=0o700)
    owner.chown(data)
    secret = home / "postgres.pwfile"
    secret.write_text(superuser_password + "\n", encoding="utf-8")
    secret.chmod(0o600)
    owner.chown(secret)
    try:
        _run_as(
            owner,
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(secret),
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            "initdb",
            home,
        )
    finally:
        secret.unlink(missing_ok=True)


def start(home: Path, log_dir: Path) -> tuple[subprocess.Popen[bytes], Postgres]:
    """Run initdb for a fresh cluster under ``home``, start the postmaster (without waiting).

    Returns:
        The postmaster process (its own session) and the connection facts.
    """
    owner = Owner.for_this_process()
    _check_reachable(home, owner)
    data = home / "postgres"
    info = Postgres(
        port=procs.free_port(),
        password=secrets.token_hex(12),
        superuser_password=secrets.token_hex(12),
        data_dir=data,
    )
    _initdb(home, data, owner, info.superuser_password)
    sockets = home / "run"
    sockets.mkdir(exist_ok=True)
    owner.chown(sockets)
    socket_dir = str(sockets) if len(str(sockets)) + 20 < _MAX_SOCKET_PATH else ""
    settings = {**_SETTINGS, "port": str(info.port), "unix_socket_directories": socket_dir}
    argv = [str(bin_dir() / "postgres"), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    proc = procs.spawn("postgres", argv, log_dir=log_dir, cwd=home, user=owner.uid, group=owner.gid)
    return proc, info


def _connect(info: Postgres, database: str = "postgres") -> psycopg2.extensions.connection:
    return psycopg2.connect(
        host="127.0.0.1",
        port=info.port,
        user=SUPERUSER,
        password=info.superuser_password,
        dbname=database,
        connect_timeout=2,
    )


def accepts_connections(info: Postgres) -> bool:
    """A readiness condition: the superuser can log in over TCP."""
    _connect(info).close()
    return True


def create_databases(info: Postgres) -> None:
    """Role ``twin`` (password login) owning the databases in :data:`DATABASES`."""
    conn = _connect(info)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            # CREATEDB: the DR runbook restores a lost database as RDS's master user may.
            cur.execute(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD %s", (info.password,))
            for name in DATABASES:
                cur.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
    finally:
        conn.close()


def stop(data_dir: Path, pid: int | None) -> None:
    """Fast shutdown through ``pg_ctl stop -m fast`` (as the owner), then by PID if still up."""
    owner = Owner.for_this_process()
    if (data_dir / "postmaster.pid").exists():
        # On failure the PID fallback below still stops it.
        with contextlib.suppress(TwinError):
            _run_as(
                owner,
                [str(bin_dir() / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w"],
                "pg_ctl stop",
                data_dir.parent,
            )
    if pid is not None:
        procs.stop(pid)
