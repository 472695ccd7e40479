"""Seams inside the fake cluster: the object store, the pod runner, and controllers.

``ObjectStore`` holds applied Kubernetes objects (what ``kubectl apply`` sent, as plain
dicts). ``PodRunner`` turns a pod spec into local processes on a loopback pod IP and probes
them as kubelet does. A ``Controller`` (the Rollouts controller, the Argo executor) watches
the store and acts. Implementations live beside this module; tests may use in-memory doubles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Obj = dict[str, Any]


def key_of(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(kind, namespace, name)`` of an object (namespace ``""`` for cluster-scoped kinds)."""
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


class ObjectStore(Protocol):
    """Applied objects by (kind, namespace, name); thread-safe; watchers see every change."""

    def apply(self, obj: Obj) -> Obj:
        """Create or replace an object (server-side apply: the whole spec); returns it."""
        ...

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """One object, or None."""
        ...

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Every object of a kind (in one namespace, or all)."""
        ...

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Remove an object; False when it did not exist."""
        ...

    def update_status(self, kind: str, namespace: str, name: str, status: Obj) -> None:
        """Replace an object's ``status`` (controllers report here; kubectl shims read it)."""
        ...

    def watch(self, callback: Callable[[str, Obj], None]) -> None:
        """Call ``callback(event, obj)`` (event: added, modified, deleted) on every change."""
        ...


@dataclass
class Pod:
    """A running pod: its processes, loopback IP, labels and kubelet-observed state."""

    namespace: str
    name: str
    ip: str  # a 127.0.0.0/8 address of its own
    labels: dict[str, str]
    spec: Obj
    phase: str = "Pending"  # Pending | Running | Succeeded | Failed
    ready: bool = False
    restarts: int = 0
    exit_code: int | None = None
    message: str = ""  # why it is not ready / failed: names the probe or the exit
    log_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class PodRunner(Protocol):
    """Runs pod specs as local processes, probes them and stops them by PID."""

    def start(self, namespace: str, name: str, pod_spec: Obj, labels: Mapping[str, str]) -> Pod:
        """Start every container of ``pod_spec`` (init containers first); returns at once."""
        ...

    def delete(self, pod: Pod, grace_seconds: float | None = None) -> None:
        """preStop, SIGTERM, wait up to the grace period, SIGKILL; frees the pod IP."""
        ...

    def list(self, namespace: str | None = None) -> list[Pod]:
        """Pods that exist (any phase)."""
        ...


class Controller(Protocol):
    """A reconciler started with the cluster process and stopped with it."""

    def start(self, store: ObjectStore, pods: PodRunner) -> None:
        """Begin watching and acting (in a thread of its own)."""
        ...

    def stop(self) -> None:
        """Stop acting; delete the pods it owns."""
        ...
