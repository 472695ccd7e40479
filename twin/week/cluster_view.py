"""What the week reads from the fake cluster: Rollouts, pods, and what each pod serves.

Everything goes through the cluster's kubectl API (as ``kubectl -o json``) and, for what a
pod serves, through the pod's own metrics port on its pod IP, as Prometheus scrapes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from twin import state
from twin.errors import TwinError
from twin.week.context import Week

ROLLOUT = "strategy-service"
METRICS_PORT = 9102
HASH_LABEL = "rollouts-pod-template-hash"
# One client for the week's reads: the staging delay is watched once a second (kubectl and every
# pod's metrics), and a client per request built a TLS context each time.
_HTTP = httpx.Client(timeout=30)


@dataclass(frozen=True)
class Serving:
    """One ready pod and the model it serves (from its ``strategy_model_info``)."""

    pod: str
    ip: str
    template_hash: str
    version: str
    sha256: str


def kubectl(week: Week, *argv: str) -> str:
    """Run a kubectl command line against the cluster; its stdout."""
    url = state.service(week.home, "cluster")["kube_url"]
    answer = _HTTP.post(f"{url}/v1/kubectl", json={"argv": list(argv)}).json()
    if answer["code"] != 0:
        raise TwinError(f"kubectl {' '.join(argv)}: {answer['stderr'].strip()[:300]}")
    return str(answer["stdout"])


def objects(week: Week, kind: str, namespace: str) -> list[dict[str, Any]]:
    """``kubectl get <kind> -n <namespace> -o json`` items."""
    text = kubectl(week, "get", kind, "-n", namespace, "-o", "json").strip()
    if not text:  # "No resources found" goes to stderr
        return []
    doc = json.loads(text)
    items: list[dict[str, Any]] = doc.get("items", [doc] if doc.get("kind") else [])
    return items


def rollout(week: Week, env: str) -> dict[str, Any]:
    """The strategy service's Rollout in ``trading-<env>``."""
    return json.loads(
        kubectl(week, "get", "rollout", ROLLOUT, "-n", f"trading-{env}", "-o", "json")
    )


def _ready_pods(week: Week, env: str, template_hash: str | None) -> dict[str, dict[str, Any]]:
    found = {}
    for pod in objects(week, "pod", f"trading-{env}"):
        labels = pod["metadata"].get("labels") or {}
        if labels.get("app.kubernetes.io/name") != ROLLOUT:
            continue
        if template_hash is not None and labels.get(HASH_LABEL) != template_hash:
            continue
        if pod["metadata"].get("deletionTimestamp"):
            continue  # being deleted: no Service routes to it while its preStop hook runs
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if ready and status.get("podIP"):
            found[pod["metadata"]["name"]] = pod
    return found


def serving(week: Week, env: str, template_hash: str | None = None) -> list[Serving]:
    """Every ready strategy pod of ``env`` (of one ReplicaSet, not being deleted) and its model.

    A pod that refuses the metrics request and is no longer ready afterwards was being
    deleted meanwhile (an old ReplicaSet scaling down): it is left out. One still ready is an
    error.
    """
    out = []
    for name, pod in _ready_pods(week, env, template_hash).items():
        labels = pod["metadata"].get("labels") or {}
        ip = pod["status"]["podIP"]
        try:
            text = _HTTP.get(f"http://{ip}:{METRICS_PORT}/metrics", timeout=5).text
        except httpx.TransportError as exc:
            if name in _ready_pods(week, env, template_hash):
                raise TwinError(f"{env}: ready pod {name} on {ip}: /metrics {exc}") from exc
            continue
        info = re.search(r"strategy_model_info\{([^}]*)\}", text)
        fields = dict(re.findall(r'(\w+)="([^"]*)"', info.group(1))) if info else {}
        out.append(
            Serving(
                pod["metadata"]["name"],
                ip,
                labels.get(HASH_LABEL, ""),
                fields.get("model_version", ""),
                fields.get("sha256", ""),
            )
        )
    return out
