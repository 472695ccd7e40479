"""The cluster's object store: applied objects by (kind, namespace, name), persisted atomically.

Thread-safe. Every change gets a ``metadata.resourceVersion`` (a counter), new objects a
``uid`` and ``creationTimestamp``. ``apply`` replaces the whole object but keeps its
``status`` (a status subresource, as for CRDs with ``subresources.status``); only
``update_status`` changes status. Watchers are called from one dispatcher thread, in order,
so a slow controller never blocks a writer. The state is written to
``<home>/cluster/objects.json`` (atomically, at most every ``flush_seconds``, and on
``close``), so a restarted cluster and offline readers (``read_objects``) see it.
"""

from __future__ import annotations

import builtins
import copy
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pipelines.io import atomic
from twin.cluster.interfaces import Obj, key_of

log = logging.getLogger(__name__)

OBJECTS_FILE = "objects.json"
Key = tuple[str, str, str]


def now_rfc3339() -> str:
    """The current time as Kubernetes writes timestamps (``2024-01-02T03:04:05Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_objects(home: Path) -> list[Obj]:
    """Every object a cluster persisted under ``home`` (for readers outside the process)."""
    path = home / "cluster" / OBJECTS_FILE
    if not path.exists():
        return []
    doc = json.loads(path.read_text(encoding="utf-8"))
    return list(doc.get("objects", []))


class FileObjectStore:
    """The ``ObjectStore`` of the cluster process (see ``interfaces.ObjectStore``)."""

    def __init__(self, home: Path | None, flush_seconds: float = 0.2) -> None:
        self._path = home / "cluster" / OBJECTS_FILE if home is not None else None
        self._objects: dict[Key, Obj] = {}
        self._version = 0
        self._lock = threading.RLock()
        self._watchers: list[Callable[[str, Obj], None]] = []
        self._events: queue.Queue[tuple[str, Obj] | None] = queue.Queue()
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._flush_seconds = flush_seconds
        self._load()
        self._dispatcher = threading.Thread(target=self._dispatch, name="store-watch", daemon=True)
        self._dispatcher.start()
        self._flusher = threading.Thread(target=self._flush_loop, name="store-flush", daemon=True)
        self._flusher.start()

    # -- ObjectStore ---------------------------------------------------------------------
    def apply(self, obj: Obj) -> Obj:
        """Create or replace an object (its status is kept); returns the stored copy."""
        kind, namespace, name = key_of(obj)
        if not kind or not name:
            raise ValueError("object needs kind and metadata.name")
        new = copy.deepcopy(obj)
        with self._lock:
            old = self._objects.get((kind, namespace, name))
            meta = new.setdefault("metadata", {})
            if old is not None:
                meta["uid"] = old["metadata"]["uid"]
                meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
                meta["generation"] = int(old["metadata"].get("generation", 1)) + (
                    1 if old.get("spec") != new.get("spec") else 0
                )
                if "status" in old and "status" not in new:
                    new["status"] = old["status"]
            else:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", now_rfc3339())
                meta.setdefault("generation", 1)
            self._version += 1
            meta["resourceVersion"] = str(self._version)
            self._objects[(kind, namespace, name)] = new
            self._changed("modified" if old is not None else "added", new)
            return copy.deepcopy(new)

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """One object (a copy), or None."""
        with self._lock:
            found = self._objects.get((kind, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, kind: str, namespace: str | None = None) -> builtins.list[Obj]:
        """Every object of a kind (in one namespace, or all), by namespace and name."""
        with self._lock:
            found = [
                copy.deepcopy(o)
                for (k, ns, _), o in self._objects.items()
                if k == kind and (namespace is None or ns == namespace)
            ]
        return sorted(found, key=lambda o: key_of(o))

    def kinds(self) -> builtins.list[str]:
        """Kinds that have at least one object."""
        with self._lock:
            return sorted({k for k, _, _ in self._objects})

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Remove an object; False when it did not exist."""
        with self._lock:
            old = self._objects.pop((kind, namespace, name), None)
            if old is None:
                return False
            self._version += 1
            self._changed("deleted", old)
            return True

    def update_status(self, kind: str, namespace: str, name: str, status: Obj) -> None:
        """Replace an object's status (ignored when the object was deleted meanwhile)."""
        with self._lock:
            obj = self._objects.get((kind, namespace, name))
            if obj is None:
                return
            obj["status"] = copy.deepcopy(status)
            self._version += 1
            obj["metadata"]["resourceVersion"] = str(self._version)
            self._changed("modified", obj)

    def watch(self, callback: Callable[[str, Obj], None]) -> None:
        """Call ``callback(event, obj)`` for every later change (from the dispatcher thread)."""
        with self._lock:
            self._watchers.append(callback)

    # -- persistence -----------------------------------------------------------------------
    def flush(self) -> None:
        """Write the objects file now (atomic)."""
        if self._path is None:
            return
        with self._lock:
            snapshot = {"resourceVersion": self._version, "objects": list(self._objects.values())}
            text = json.dumps(snapshot, sort_keys=True)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self._path, text)

    def close(self) -> None:
        """Stop the dispatcher and flusher; write the final state."""
        self._closed.set()
        self._events.put(None)
        self._dispatcher.join(timeout=5)
        self._flusher.join(timeout=5)
        self.flush()

    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        doc = json.loads(self._path.read_text(encoding="utf-8"))
        self._version = int(doc.get("resourceVersion", 0))
        for obj in doc.get("objects", []):
            self._objects[key_of(obj)] = obj

    def _changed(self, event: str, obj: Obj) -> None:
        self._dirty.set()
        self._events.put((event, copy.deepcopy(obj)))

    def _dispatch(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            with self._lock:
                watchers = list(self._watchers)
            for callback in watchers:
                try:
                    callback(*item)
                except Exception:  # a watcher's bug must not stop the others
                    log.exception("store watcher failed on %s %s", item[0], key_of(item[1]))

    def _flush_loop(self) -> None:
        while not self._closed.is_set():
            if self._dirty.wait(timeout=0.5):
                self._dirty.clear()
                try:
                    self.flush()
                except OSError:
                    log.exception("cannot write the cluster's objects file")
                time.sleep(self._flush_seconds)
