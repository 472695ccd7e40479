"""Real Pushgateway and Prometheus servers for tests: 127.0.0.1, free ports, stopped by PID."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT, require_tool
from twin.procs import free_port, http_ok, log_tail, spawn, stop, wait_until

PROM_DIR = REPO_ROOT / "monitoring" / "prometheus"


@contextlib.contextmanager
def pushgateway(workdir: Path) -> Iterator[str]:
    """Debian's ``prometheus-pushgateway`` on a free port; yields its URL."""
    exe = require_tool("prometheus-pushgateway")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs = workdir / "logs"
    proc = spawn(
        "pushgateway",
        # Debian defaults to a shared persistence file under /var/lib: keep this one in memory.
        [exe, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
        log_dir=logs,
        cwd=workdir,
    )
    try:
        wait_until(
            "pushgateway",
            http_ok(f"{url}/-/ready"),
            timeout=30,
            proc=proc,
            on_fail=lambda: log_tail(logs, "pushgateway"),
        )
        yield url
    finally:
        stop(proc.pid)
        proc.wait()


def scrape_config_for(gateway: str) -> dict[str, object]:
    """The repository's ``pushgateway`` scrape job, pointed at ``gateway`` (host:port)."""
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "pushgateway")
    return {**job, "scrape_interval": "1s", "static_configs": [{"targets": [gateway]}]}


@contextlib.contextmanager
def prometheus(
    workdir: Path, gateway_url: str, rules: dict[str, str] | None = None
) -> Iterator[str]:
    """Debian's ``prometheus`` scraping the gateway every second with the repository's job.

    ``rules`` maps file names to rule-file texts that it evaluates every second.
    """
    exe = require_tool("prometheus")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config: dict[str, object] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [scrape_config_for(gateway_url.removeprefix("http://"))],
    }
    folder = workdir / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (rules or {}).items():
        (folder / name).write_text(text)
    if rules:
        config["rule_files"] = sorted(rules)
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    logs = workdir / "logs"
    argv = [
        exe,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    proc = spawn("prometheus", argv, log_dir=logs, cwd=folder)
    try:
        wait_until(
            "prometheus",
            http_ok(f"{url}/-/ready"),
            timeout=60,
            proc=proc,
            on_fail=lambda: log_tail(logs, "prometheus"),
        )
        yield url
    finally:
        stop(proc.pid)
        proc.wait()
