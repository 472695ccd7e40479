"""Cluster DNS: the names pods resolve, written to ``<home>/cluster/dns.json`` for the pod network.

Entries map ``host:port`` to addresses. Three sources, in order of precedence:

1. overrides (``override``): a controller routing a Service name to its own listener (the
   Istio mesh routes ``strategy-service.trading-prod.svc:8080`` through the VirtualService);
2. Services in the store: ``<svc>.<ns>.svc[.cluster.local]:<port>`` to the **ready** pods
   behind the selector at the target port (kube-proxy's job; no ready pod: the name resolves to
   an address nothing listens on, so connections are refused as with an empty Service);
3. the twin's own servers under the names the platform gives them (``TWIN_NAMES``).

A twin server listening on the host's 127.0.0.1 is written as ``HOST_ALIAS``: the pod network
turns 127.0.0.1 into the pod's private loopback, and ``HOST_ALIAS`` into the host's 127.0.0.1.
Non-Python tools (curl, git) get the same table as ``.curlrc`` ``connect-to`` lines and git
``insteadOf`` rules.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipelines.io import atomic
from twin import state
from twin.cluster.interfaces import Obj, ObjectStore, Pod

HOST_ALIAS = "127.254.0.1"
NOWHERE = "127.0.0.255"  # a Service with no ready endpoint: connection refused
DNS_FILE = "dns.json"

# twin service (state.json name) -> cluster names (host, port) that reach it from a pod
TWIN_NAMES: dict[str, list[tuple[str, int]]] = {
    "prometheus": [("prometheus-operated.monitoring.svc", 9090)],
    "pushgateway": [("pushgateway.monitoring.svc", 9091)],
    "alertmanager": [("alertmanager-operated.monitoring.svc", 9093)],
    "mlflow": [("mlflow.mlflow.svc", 5000)],
    # moto routes requests by their Host: it must be a name it knows as S3.
    "moto": [("s3.amazonaws.com", 80)],
    "github": [("github.twin.internal", 80)],
}

Address = tuple[str, int]


def fqdn_forms(name: str, namespace: str) -> list[str]:
    """The names a Service answers to (``svc.ns``, ``svc.ns.svc``, ``...cluster.local``)."""
    return [
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.cluster.local",
    ]


def twin_servers(home: Path) -> dict[str, Address]:
    """The twin's servers (state.json) by name: their host address."""
    found: dict[str, Address] = {}
    for name, info in state.load(home)["services"].items():
        url = info.get("url")
        if not url:
            continue
        parts = urlsplit(str(url))
        if parts.hostname and parts.port:
            found[name] = (parts.hostname, parts.port)
    return found


class ClusterDns:
    """The pod network's name table (see module doc); rewritten whenever a source changes."""

    def __init__(self, home: Path, store: ObjectStore, pods: Callable[[str], list[Pod]]) -> None:
        self.path = home / "cluster" / DNS_FILE
        self._home = home
        self._store = store
        self._pods = pods
        self._overrides: dict[str, list[Address]] = {}
        self._lock = threading.Lock()
        self.table: dict[str, list[Address]] = {}

    def override(self, host: str, port: int, target: Address | None) -> None:
        """Route ``host:port`` (every form of a Service name) to ``target`` (None: undo)."""
        with self._lock:
            key = f"{host}:{port}"
            if target is None:
                self._overrides.pop(key, None)
            else:
                self._overrides[key] = [target]
        self.refresh()

    def resolve(self, host: str, port: int) -> list[Address]:
        """What a pod gets for ``host:port`` (empty: the name does not exist)."""
        return list(self.table.get(f"{host.rstrip('.')}:{port}", []))

    def refresh(self) -> None:
        """Recompute the table from the store, the pods and the twin's servers; write the file."""
        table: dict[str, list[Address]] = {}
        for name, (host, port) in twin_servers(self._home).items():
            for cluster_host, cluster_port in TWIN_NAMES.get(name, []):
                table[f"{cluster_host}:{cluster_port}"] = [(_alias(host), port)]
                table[f"{cluster_host}.cluster.local:{cluster_port}"] = [(_alias(host), port)]
        for service in self._store.list("Service"):
            meta = service["metadata"]
            if not (service.get("spec") or {}).get("selector"):
                continue  # endpoints managed outside the cluster (the twin's own servers)
            for port_spec in (service.get("spec") or {}).get("ports") or []:
                targets = ready_endpoints(self._pods(meta.get("namespace", "")), service, port_spec)
                for form in fqdn_forms(meta["name"], meta.get("namespace", "")):
                    table[f"{form}:{port_spec['port']}"] = targets or [
                        (NOWHERE, int(port_spec["port"]))
                    ]
        with self._lock:
            for key, targets in self._overrides.items():
                name, _, port_text = key.rpartition(":")
                for form in _forms_of(name):
                    table[f"{form}:{port_text}"] = targets
            if table == self.table and self.path.exists():
                return
            self.table = table
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Pods read the table as their own (non-root) user: it must be world-readable, and
            # replaced atomically (a pod keeps its last table if it ever reads mid-way).
            with atomic.atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps({k: [list(a) for a in v] for k, v in table.items()}))
                tmp.chmod(0o644)

    def curlrc(self) -> str:
        """``connect-to`` lines for curl (host tools reach the host's 127.0.0.1 directly)."""
        lines = []
        for key, targets in sorted(self.table.items()):
            host, _, port = key.rpartition(":")
            ip, target_port = targets[0]
            lines.append(f'connect-to = "{host}:{port}:{_unalias(ip)}:{target_port}"')
        return "\n".join(lines) + "\n"

    def git_config(self) -> str:
        """A git config sending ``https://github.com/`` to the twin's GitHub (git smart HTTP)."""
        servers = twin_servers(self._home)
        lines = ["[safe]", "\tdirectory = *", "[advice]", "\tdetachedHead = false"]
        if "github" in servers:
            host, port = servers["github"]
            # The server's root: repository URLs keep their owner/name path after it.
            base = (
                state.load(self._home)["services"]["github"].get("url") or f"http://{host}:{port}"
            )
            lines += [f'[url "{str(base).rstrip("/")}/"]', "\tinsteadOf = https://github.com/"]
        return "\n".join(lines) + "\n"


def ready_endpoints(pods: list[Pod], service: Obj, port_spec: Obj) -> list[Address]:
    """Ready pods behind a Service's selector, at the port's target (kube-proxy's view)."""
    selector = (service.get("spec") or {}).get("selector") or {}
    target: Any = port_spec.get("targetPort", port_spec["port"])
    found = []
    for pod in pods:
        if (
            not selector
            or not pod.ready
            or pod.terminating
            or any(pod.labels.get(k) != v for k, v in selector.items())
        ):
            continue
        if isinstance(target, int) or str(target).isdigit():
            found.append((pod.ip, int(target)))
            continue
        ports: dict[str, int] = {
            p.get("name"): p["containerPort"]
            for c in pod.spec.get("containers") or []
            for p in c.get("ports") or []
        }
        if target in ports:
            found.append((pod.ip, int(ports[target])))
    return found


def pod_egress_env(home: Path) -> dict[str, str]:
    """What the platform's identity and egress give every project pod, pointed at the twin.

    In AWS a pod gets credentials from EKS Pod Identity and reaches S3 and GitHub at their
    public endpoints; here it gets moto's dummy credentials and the twin's names for them.
    """
    env = state.load(home)["env"]
    out = {
        "AWS_ACCESS_KEY_ID": str(env.get("AWS_ACCESS_KEY_ID", "testing")),
        "AWS_SECRET_ACCESS_KEY": str(env.get("AWS_SECRET_ACCESS_KEY", "testing")),
        "AWS_DEFAULT_REGION": str(env.get("AWS_DEFAULT_REGION", "us-east-1")),
    }
    servers = twin_servers(home)
    if "moto" in servers:
        out["AWS_ENDPOINT_URL"] = out["MLFLOW_S3_ENDPOINT_URL"] = "http://s3.amazonaws.com"
        # A named endpoint makes botocore address buckets as <bucket>.<host> (virtual host),
        # which moto cannot tell from a path: path-style, as for any S3-compatible store.
        config = home / "cluster" / "aws-config"
        if not config.exists():
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text("[default]\ns3 =\n    addressing_style = path\n", encoding="utf-8")
            config.chmod(0o644)
        out["AWS_CONFIG_FILE"] = str(config)
    if "github" in servers:
        out["GITHUB_API_URL"] = "http://github.twin.internal/api/v3"
    return out


def _alias(host: str) -> str:
    return HOST_ALIAS if host in ("127.0.0.1", "localhost") else host


def _unalias(ip: str) -> str:
    return "127.0.0.1" if ip == HOST_ALIAS else ip


def _forms_of(host: str) -> list[str]:
    parts = host.split(".")
    if len(parts) >= 2 and (len(parts) == 2 or parts[2] == "svc"):
        return fqdn_forms(parts[0], parts[1])
    return [host]
