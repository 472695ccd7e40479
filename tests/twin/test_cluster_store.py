"""The cluster's object store: apply semantics, status subresource, watchers, persistence."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.twin.cluster_support import wait_for
from twin.cluster.interfaces import Obj
from twin.cluster.store import FileObjectStore, read_objects


def config_map(name: str, value: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns"},
        "data": {"k": value},
    }


def test_apply_replaces_the_object_but_keeps_its_status_and_identity(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)
    try:
        first = store.apply(config_map("a", "1"))
        store.update_status("ConfigMap", "ns", "a", {"phase": "Seen"})
        second = store.apply(config_map("a", "2"))
        assert second["metadata"]["uid"] == first["metadata"]["uid"]
        assert second["metadata"]["generation"] == 1  # no spec: data changes do not count
        assert second["status"] == {"phase": "Seen"} and second["data"] == {"k": "2"}
        assert int(second["metadata"]["resourceVersion"]) > int(
            first["metadata"]["resourceVersion"]
        )
        assert store.get("ConfigMap", "ns", "missing") is None
        assert [o["metadata"]["name"] for o in store.list("ConfigMap")] == ["a"]
        assert store.list("ConfigMap", "other") == []
        returned = store.get("ConfigMap", "ns", "a")
        assert returned is not None
        returned["data"]["k"] = "mutated"  # callers get copies
        assert store.get("ConfigMap", "ns", "a")["data"]["k"] == "2"  # type: ignore[index]
        assert store.delete("ConfigMap", "ns", "a") and not store.delete("ConfigMap", "ns", "a")
    finally:
        store.close()


def test_watchers_see_every_change_in_order(tmp_path: Path) -> None:
    store = FileObjectStore(None)
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(event: str, obj: Obj) -> None:
        with lock:
            seen.append((event, obj["data"]["k"]))

    store.watch(record)
    store.apply(config_map("a", "1"))
    store.apply(config_map("a", "2"))
    store.delete("ConfigMap", "ns", "a")
    wait_for("three events", lambda: len(seen) == 3, timeout=5)
    assert seen == [("added", "1"), ("modified", "2"), ("deleted", "2")]
    store.close()


def test_state_survives_a_restart_and_is_readable_offline(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)
    store.apply(config_map("kept", "1"))
    store.update_status("ConfigMap", "ns", "kept", {"ok": True})
    store.close()
    on_disk = json.loads((tmp_path / "cluster" / "objects.json").read_text())
    assert [o["metadata"]["name"] for o in on_disk["objects"]] == ["kept"]
    assert read_objects(tmp_path)[0]["status"] == {"ok": True}
    again = FileObjectStore(tmp_path)
    try:
        found = again.get("ConfigMap", "ns", "kept")
        assert found is not None and found["status"] == {"ok": True}
        newer = again.apply(config_map("other", "2"))
        assert int(newer["metadata"]["resourceVersion"]) > int(found["metadata"]["resourceVersion"])
    finally:
        again.close()
