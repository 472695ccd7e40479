"""A workflow's node tree, shaped as Argo's ``status.nodes`` (ids, names, phases, children).

Node ids follow Argo: the workflow name for the root, else ``<workflow>-<fnv32a(node name)>``;
pod names follow Argo's v2 scheme ``<workflow>-<template>-<fnv32a(node name)>``. Every change
is pushed to the store (through ``publish``) so clients watching the workflow see it at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from twin.cluster.store import now_rfc3339

DONE = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
FAILED = ("Failed", "Error")


def fnv32a(text: str) -> int:
    """The 32-bit FNV-1a hash Argo uses for node ids and pod names."""
    value = 0x811C9DC5
    for byte in text.encode():
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def node_id(workflow: str, name: str) -> str:
    """Argo's node id for node ``name``."""
    return workflow if name == workflow else f"{workflow}-{fnv32a(name)}"


def pod_name(workflow: str, node_name: str, template: str) -> str:
    """Argo's (v2) pod name for a node."""
    prefix = f"{workflow}-{template}" if template else workflow
    return f"{prefix[:242]}-{fnv32a(node_name)}"


class NodeTree:
    """Thread-safe ``status.nodes`` of one workflow."""

    def __init__(self, workflow: str, publish: Callable[[], None]) -> None:
        self.workflow = workflow
        self.nodes: dict[str, dict[str, Any]] = {}
        self.lock = threading.RLock()
        self._publish = publish

    def add(
        self,
        name: str,
        display: str,
        kind: str,
        template: str,
        parent: str | None,
        boundary: str | None = None,
        phase: str = "Running",
        **extra: Any,
    ) -> str:
        """Create a node (or return the id of the existing one) under ``parent``."""
        nid = node_id(self.workflow, name)
        with self.lock:
            if nid not in self.nodes:
                node: dict[str, Any] = {
                    "id": nid,
                    "name": name,
                    "displayName": display,
                    "type": kind,
                    "templateName": template,
                    "phase": phase,
                    "startedAt": now_rfc3339(),
                    "templateScope": "local/",
                    **extra,
                }
                if boundary:
                    node["boundaryID"] = boundary
                if phase in DONE:
                    node["finishedAt"] = node["startedAt"]
                self.nodes[nid] = node
                if parent is not None and parent in self.nodes:
                    self.nodes[parent].setdefault("children", []).append(nid)
        self._publish()
        return nid

    def update(self, nid: str, **fields: Any) -> None:
        """Change fields of a node; a final phase also sets ``finishedAt``."""
        with self.lock:
            node = self.nodes[nid]
            node.update({k: v for k, v in fields.items() if v is not None})
            if node.get("phase") in DONE and "finishedAt" not in node:
                node["finishedAt"] = now_rfc3339()
        self._publish()

    def get(self, nid: str) -> dict[str, Any]:
        """A copy of one node."""
        with self.lock:
            return dict(self.nodes[nid])

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A copy of every node (for ``status.nodes``)."""
        with self.lock:
            return {
                k: {**v, "children": list(v.get("children", []))} if "children" in v else dict(v)
                for k, v in self.nodes.items()
            }

    def first_failure(self, root: str) -> dict[str, Any] | None:
        """The earliest failed leaf under ``root`` (a pod or retry node), for messages."""
        with self.lock:
            failed = [
                n
                for n in self.nodes.values()
                if n.get("phase") in FAILED and not n.get("children") and self._under(n["id"], root)
            ]
        return min(failed, key=lambda n: n.get("finishedAt", ""), default=None)

    def _under(self, nid: str, root: str) -> bool:
        todo = [root]
        seen: set[str] = set()
        while todo:
            current = todo.pop()
            if current == nid:
                return True
            if current in seen:
                continue
            seen.add(current)
            todo.extend(self.nodes.get(current, {}).get("children", []))
        return False
