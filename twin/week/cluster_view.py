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
    answer = httpx.post(f"{url}/v1/kubectl", json={"argv": list(argv)}, timeout=30).json()
    if answer["code"] != 0:
        raise TwinError(f"kubectl {' '.join(argv)}: {answer['stderr'].strip()[:300]}")
    return str(answer["stdout"])


def objects(week: Week, kind: str, namespace: str) -> list[dict[str, Any]]:
    """``kubectl get <kind> -n <namespace> -o json`` items."""
    doc = json.loads(kubectl(week, "get", kind, "-n", namespace, "-o", "json"))
    items: list[dict[str, Any]] = doc.get("items", [doc] if doc.get("kind") else [])
    return items


def rollout(week: Week, env: str) -> dict[str, Any]:
    """The strategy service's Rollout in ``trading-<env>``."""
    return json.loads(
        kubectl(week, "get", "rollout", ROLLOUT, "-n", f"trading-{env}", "-o", "json")
    )


def serving(week: Week, env: str) -> list[Serving]:
    """Every ready strategy pod of ``env`` with the model its metrics say it serves."""
    out = []
    for pod in objects(week, "pod", f"trading-{env}"):
        labels = pod["metadata"].get("labels") or {}
        if labels.get("app.kubernetes.io/name") != ROLLOUT:
            continue
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if not ready or not status.get("podIP"):
            continue
        ip = status["podIP"]
        text = httpx.get(f"http://{ip}:{METRICS_PORT}/metrics", timeout=5).text
        info = re.search(r"strategy_model_info\{([^}]*)\}", text)
        fields = dict(re.findall(r'(\w+)="([^"]*)"', info.group(1))) if info else {}
        out.append(
            Serving(
                pod["metadata"]["name"],
                ip,
                labels.get("rollouts-pod-template-hash", ""),
                fields.get("model_version", ""),
                fields.get("sha256", ""),
            )
        )
    return out
