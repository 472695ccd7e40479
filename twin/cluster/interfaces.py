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
    """A running pod: its processes, loopback IP, labels and kubelet-observed state.

    ``extra`` keys set by the cluster's runner: ``uid``; ``reason`` (``ErrImagePull``,
    ``CreateContainerConfigError``, ``FailedMount``: the pod stays Pending with ``message``);
    ``mappers`` (container name -> its container-path-to-host-path mapper); ``kubelet_thread``;
    ``deletion_timestamp`` (set when its deletion starts: from then on it is no Service's
    endpoint while its preStop hook and grace period run, as in Kubernetes); ``deleted`` (True
    once deleted, in the last notification). The runner mirrors every pod into the store as a
    ``Pod`` object (``status.phase``, ``status.podIP``, ``Ready``, ``metadata.deletionTimestamp``).
    """

    @property
    def terminating(self) -> bool:
        """Its deletion has started (or is done): it is no longer any Service's endpoint."""
        return bool(self.extra.get("deletion_timestamp") or self.extra.get("deleted"))

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


class ServiceDns(Protocol):
    """The cluster DNS the pods resolve (``<svc>.<ns>.svc[.cluster.local]:<port>``).

    By default a Service name resolves to its ready pods at the target port (kube-proxy). A
    controller that routes a Service itself (the Istio mesh) points the name at its listener.
    """

    def override(self, host: str, port: int, target: tuple[str, int] | None) -> None:
        """Route ``host:port`` (``svc.ns``: every form of the name) to ``target``; None undoes."""
        ...

    def resolve(self, host: str, port: int) -> list[tuple[str, int]]:
        """What a pod gets for ``host:port`` now (empty: no such name)."""
        ...

    def refresh(self) -> None:
        """Recompute the table (after Services or readiness changed) and publish it to pods."""
        ...


class PodRunner(Protocol):
    """Runs pod specs as local processes, probes them and stops them by PID."""

    @property
    def dns(self) -> ServiceDns:
        """The cluster DNS of the pods this runner starts."""
        ...

    def start(self, namespace: str, name: str, pod_spec: Obj, labels: Mapping[str, str]) -> Pod:
        """Start every container of ``pod_spec`` (init containers first); returns at once."""
        ...

    def delete(self, pod: Pod, grace_seconds: float | None = None) -> None:
        """preStop, SIGTERM, wait up to the grace period, SIGKILL; frees the pod IP."""
        ...

    def list(self, namespace: str | None = None) -> list[Pod]:
        """Pods that exist (any phase)."""
        ...

    def get(self, namespace: str, name: str) -> Pod | None:
        """One pod, or None."""
        ...

    def subscribe(self, callback: Callable[[Pod], None]) -> None:
        """Call ``callback(pod)`` on every visible change of a pod (phase, ready, message)."""
        ...


class Controller(Protocol):
    """A reconciler started with the cluster process and stopped with it.

    Rollout status contract (written by the Rollouts controller, read by the
    ``kubectl-argo-rollouts`` shim and by ``GET /kube/v1/rollouts/{ns}/{name}``):
    ``status.phase`` is Healthy, Progressing, Paused or Degraded and ``status.message`` says
    why (for Degraded, Argo's abort message). The shim's ``promote`` clears
    ``status.pauseConditions``, sets ``status.controllerPause: false`` and ``spec.paused:
    false`` (``--full``: ``status.promoteFull: true``); ``abort`` sets ``status.abort: true``
    and ``retry`` sets it false: the controller reads these fields as Argo's does.
    """

    def start(self, store: ObjectStore, pods: PodRunner) -> None:
        """Begin watching and acting (in a thread of its own)."""
        ...

    def stop(self) -> None:
        """Stop acting; delete the pods it owns."""
        ...
