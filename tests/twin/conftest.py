"""Twin fixtures: the real servers of the twin, up once per session in a temporary home."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_tool
from tests.twin.cluster_support import argo_cluster, cluster, twin_home  # noqa: F401
from twin import services, state


@dataclass(frozen=True)
class TwinServices:
    """A running set of twin servers: its home, the client env and each service's record."""

    home: Path
    env: dict[str, str]
    records: dict[str, dict[str, object]]

    def url(self, name: str) -> str:
        """The URL registered for service ``name``."""
        return str(self.records[name]["url"])


def fresh_twin_home() -> Path:
    """A fresh home under the system temp folder that the ``postgres`` user can enter.

    pytest's own tmp folders are private to root (0700), which PostgreSQL's user cannot cross.
    """
    home = Path(tempfile.mkdtemp(prefix="twin-"))
    home.chmod(0o755)
    return home


def require_twin_tools() -> None:
    """The Debian servers the twin starts (skip locally when missing, fail under CI)."""
    for tool in ("prometheus", "prometheus-pushgateway", "prometheus-alertmanager"):
        require_tool(tool)
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and not shutil.which("initdb"):
        require_tool("initdb", "TWIN_PG_BIN")


@pytest.fixture(scope="session")
def twin_services() -> Iterator[TwinServices]:
    """moto, PostgreSQL, MLflow, Prometheus, Pushgateway, Alertmanager and the sink, by PID.

    Only the real servers (``twin.services.start_core``): the fake GitHub and cluster are not
    started. Everything is stopped at the end of the session, even after a failed start.
    """
    require_twin_tools()
    home = fresh_twin_home()
    try:
        services.start_core(home, REPO_ROOT)
        doc = state.load(home)
        yield TwinServices(home, dict(doc["env"]), dict(doc["services"]))
    finally:
        services.down(home, quiet=True)
        if not os.environ.get("TWIN_KEEP_HOME"):
            shutil.rmtree(home, ignore_errors=True)
