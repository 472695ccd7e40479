"""ReplicaSets, their pods and the Services a Rollout pins, as Argo Rollouts keeps them.

- Pod-template hash (argo-rollouts ``utils/hash/hash.go``): FNV-32a of the JSON of the pod
  template (plus the collision count, little-endian), printed in decimal and mapped through
  Kubernetes' ``SafeEncodeString`` alphabet (``bcdfghjklmnpqrstvwxz2456789``): at most 10
  characters. Argo marshals the Go struct; the twin marshals the template dict with sorted keys,
  so the hash is stable and Argo-shaped but not byte-equal to a real cluster's.
- A ReplicaSet is an object in the store (``<rollout>-<hash>``, label
  ``rollouts-pod-template-hash``, annotations ``rollout.argoproj.io/revision`` and
  ``argo-rollouts.argoproj.io/scale-down-deadline``) whose pods the controller starts and
  deletes through the PodRunner (the ReplicaSet controller's job); available = ready.
- Services (``rollout/service.go``): the selector gets ``rollouts-pod-template-hash: <hash>``
  and the ``argo-rollouts.argoproj.io/managed-by-rollouts`` annotation; endpoints are the
  ready pods the selector matches.
"""

from __future__ import annotations

import copy
import json
import secrets
import struct
import threading
from collections.abc import Mapping
from typing import Any

from twin.cluster.interfaces import Obj, ObjectStore, Pod, PodRunner

HASH_LABEL = "rollouts-pod-template-hash"
REVISION = "rollout.argoproj.io/revision"
SCALE_DOWN_DEADLINE = "argo-rollouts.argoproj.io/scale-down-deadline"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
CREATED = "rollouts.twin/created"  # creation time with sub-second precision (rollbackWindow)
SAFE = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes) -> int:
    """FNV-1a, 32 bit (Go's ``hash/fnv.New32a``)."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """Kubernetes' ``rand.SafeEncodeString``: no vowels, no look-alike characters."""
    return "".join(SAFE[ord(c) % len(SAFE)] for c in text)


def pod_template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The ``rollouts-pod-template-hash`` of a pod template (see module doc)."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += struct.pack("<I", collision_count) + b"\0\0\0\0"
    return safe_encode(str(fnv32a(data)))


def rs_name(rollout: str, pod_hash: str) -> str:
    """``<rollout>-<hash>`` (Argo's ReplicaSet name)."""
    return f"{rollout}-{pod_hash}"


def revision_of(rs: Obj | None) -> int:
    """A ReplicaSet's revision annotation (0 when absent)."""
    if rs is None:
        return 0
    return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))


def hash_of(rs: Obj | None) -> str:
    """A ReplicaSet's pod-template hash ("" for None)."""
    if rs is None:
        return ""
    return str(((rs.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL, ""))


def created_of(rs: Obj) -> float:
    """A ReplicaSet's creation time (seconds)."""
    return float(((rs.get("metadata") or {}).get("annotations") or {}).get(CREATED, "0"))


def new_replicaset(rollout: Obj, pod_hash: str, revision: int, now: float) -> Obj:
    """The ReplicaSet object for a template hash (0 replicas; the strategy scales it)."""
    meta = rollout["metadata"]
    template = copy.deepcopy(rollout["spec"]["template"])
    labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: pod_hash}
    template.setdefault("metadata", {})["labels"] = labels
    selector = {**((rollout["spec"].get("selector") or {}).get("matchLabels") or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name(meta["name"], pod_hash),
            "namespace": meta.get("namespace", ""),
            "labels": labels,
            "annotations": {REVISION: str(revision), CREATED: f"{now:.6f}"},
            "ownerReferences": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": meta["name"]}
            ],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {**selector, HASH_LABEL: pod_hash}},
            "template": template,
        },
    }


def owned_replicasets(store: ObjectStore, rollout: Obj) -> list[Obj]:
    """The ReplicaSets a Rollout owns, oldest revision first."""
    meta = rollout["metadata"]
    found = [
        rs
        for rs in store.list("ReplicaSet", meta.get("namespace", ""))
        if any(
            ref.get("kind") == "Rollout" and ref.get("name") == meta["name"]
            for ref in (rs.get("metadata") or {}).get("ownerReferences") or []
        )
    ]
    return sorted(found, key=revision_of)


class PodSet:
    """Starts and deletes the pods of ReplicaSets (deletions run in the background)."""

    def __init__(self, pods: PodRunner) -> None:
        self.pods = pods
        self._terminating: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def of(self, rs: Obj) -> list[Pod]:
        """Pods of a ReplicaSet that are not being deleted."""
        meta = rs["metadata"]
        pod_hash = hash_of(rs)
        with self._lock:
            gone = set(self._terminating)
        return [
            p
            for p in self.pods.list(meta.get("namespace", ""))
            if p.labels.get(HASH_LABEL) == pod_hash
            and p.name.startswith(meta["name"] + "-")
            and (p.namespace, p.name) not in gone
            and not p.extra.get("deleted")
        ]

    def available(self, rs: Obj | None) -> int:
        """Ready pods of a ReplicaSet (minReadySeconds 0: available = ready)."""
        return 0 if rs is None else sum(1 for p in self.of(rs) if p.ready)

    def sync(self, rs: Obj) -> None:
        """Start or delete pods until the ReplicaSet has ``spec.replicas`` of them."""
        meta = rs["metadata"]
        current = [p for p in self.of(rs) if p.phase not in ("Failed", "Succeeded")]
        for dead in (p for p in self.of(rs) if p.phase in ("Failed", "Succeeded")):
            self.delete(dead)
        want = int(rs["spec"].get("replicas") or 0)
        template = rs["spec"]["template"]
        labels = (template.get("metadata") or {}).get("labels") or {}
        for _ in range(want - len(current)):
            name = f"{meta['name']}-{''.join(secrets.choice(SAFE) for _ in range(5))}"
            spec = copy.deepcopy(template.get("spec") or {})
            self.pods.start(meta.get("namespace", ""), name, spec, labels)
        if len(current) > want:
            # not-ready pods go first, then the newest (Kubernetes' ranking, simplified)
            ranked = sorted(current, key=lambda p: (p.ready, p.name))
            for pod in ranked[: len(current) - want]:
                self.delete(pod)

    def delete(self, pod: Pod) -> None:
        """Delete a pod in the background (its grace period must not block the controller)."""
        key = (pod.namespace, pod.name)
        with self._lock:
            if key in self._terminating:
                return
            self._terminating.add(key)

        def run() -> None:
            try:
                self.pods.delete(pod)
            finally:
                with self._lock:
                    self._terminating.discard(key)

        threading.Thread(target=run, name=f"delete-{pod.name}", daemon=True).start()


def scale(store: ObjectStore, rs: Obj, replicas: int, deadline: str | None = None) -> Obj:
    """Set a ReplicaSet's replicas (and scale-down deadline annotation); applied if changed."""
    new = copy.deepcopy(rs)
    new["spec"]["replicas"] = int(replicas)
    notes = new["metadata"].setdefault("annotations", {})
    if deadline is None:
        notes.pop(SCALE_DOWN_DEADLINE, None)
    else:
        notes[SCALE_DOWN_DEADLINE] = deadline
    if new["spec"] != rs["spec"] or notes != (rs["metadata"].get("annotations") or {}):
        return store.apply(new)
    return rs


def pin_service(store: ObjectStore, namespace: str, name: str, pod_hash: str, owner: str) -> bool:
    """Point a Service's selector at one ReplicaSet; False when the Service does not exist."""
    service = store.get("Service", namespace, name)
    if service is None:
        return False
    selector = (service.get("spec") or {}).get("selector") or {}
    notes = (service.get("metadata") or {}).get("annotations") or {}
    if selector.get(HASH_LABEL) == pod_hash and notes.get(MANAGED_BY) == owner:
        return True
    new = copy.deepcopy(service)
    new["spec"]["selector"] = {**selector, HASH_LABEL: pod_hash}
    new["metadata"].setdefault("annotations", {})[MANAGED_BY] = owner
    store.apply(new)
    return True


def service_hash(store: ObjectStore, namespace: str, name: str) -> str:
    """The ReplicaSet hash a Service's selector is pinned to ("" when none)."""
    service = store.get("Service", namespace, name) or {}
    return str(((service.get("spec") or {}).get("selector") or {}).get(HASH_LABEL, ""))


def ready_endpoints(store: ObjectStore, pods: PodRunner, namespace: str, name: str) -> list[Pod]:
    """Ready pods behind a Service's selector (its endpoints), in a stable order."""
    service = store.get("Service", namespace, name)
    selector = ((service or {}).get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    found = [
        p
        for p in pods.list(namespace)
        if p.ready and not p.terminating and all(p.labels.get(k) == v for k, v in selector.items())
    ]
    return sorted(found, key=lambda p: p.name)
