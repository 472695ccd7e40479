"""One running Workflow: mutexes, the entrypoint, retries, the exit handler, ``status``.

Argo's rules kept: ``spec.shutdown`` Stop runs the exit handler, Terminate does not, both
fail the running steps with "Stopped with strategy '<S>'"; ``activeDeadlineSeconds`` fails
what runs with "Step exceeded its deadline" and then runs the exit handler;
``{{workflow.status}}`` is the entrypoint's phase inside the exit handler; a failed exit
handler fails a workflow that had succeeded; ``volumeClaimTemplates`` become claims
``<workflow>-<name>`` deleted when the workflow ends. Templates run in ``argo_templates``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
from typing import Any

from twin.cluster import argo_graph, argo_templates
from twin.cluster.argo_expr import substitute_all
from twin.cluster.argo_nodes import FAILED, NodeTree
from twin.cluster.argo_spec import (
    SpecError,
    merged_spec,
    workflow_parameters,
)
from twin.cluster.argo_sync import Mutexes, mutex_keys
from twin.cluster.interfaces import Obj, ObjectStore
from twin.cluster.pods import LocalPodRunner
from twin.cluster.store import now_rfc3339
from twin.cluster.volumes import pvc_dir
from twin.errors import TwinError

log = logging.getLogger(__name__)


class WorkflowRun:
    """Executes one Workflow object in a thread of its own."""

    def __init__(
        self, store: ObjectStore, pods: LocalPodRunner, mutexes: Mutexes, workflow: Obj
    ) -> None:
        meta = workflow["metadata"]
        self.store, self.pods, self.mutexes = store, pods, mutexes
        self.name, self.namespace, self.uid = (
            meta["name"],
            meta.get("namespace", ""),
            meta.get("uid", ""),
        )
        self.holder = f"{self.namespace}/{self.name}"
        self.tree = NodeTree(self.name, self._changed)
        self.spec: Obj = {}
        self.templates: dict[str, Obj] = {}
        self.globals: dict[str, str] = {}
        self.pod_slots: Any = contextlib.nullcontext()
        self.daemons: dict[str, list[tuple[str, Any]]] = {}
        self.status: Obj = {"phase": "Pending", "startedAt": now_rfc3339()}
        self._shutdown = ""
        self._in_exit_handler = False
        self._dirty = threading.Event()
        self._done = threading.Event()

    # -- cancellation --------------------------------------------------------------------
    def shutdown(self, strategy: str) -> None:
        """``spec.shutdown`` was set (Stop or Terminate), or the deadline passed ("deadline")."""
        if not self._shutdown:
            self._shutdown = strategy

    def cancelled(self) -> bool:
        """Whether running steps must stop now."""
        if self._in_exit_handler:
            return self._shutdown == "Terminate"
        return bool(self._shutdown)

    def cancel_message(self) -> str:
        """Why running steps were stopped."""
        if self._shutdown == "deadline":
            return "Step exceeded its deadline"
        return f"Stopped with strategy '{self._shutdown}'"

    # -- lifecycle -----------------------------------------------------------------------
    def run(self) -> None:
        """Run to the end; every failure ends as the workflow's phase and message."""
        publisher = threading.Thread(target=self._publish_loop, daemon=True)
        publisher.start()
        keys: list[str] = []
        try:
            keys = self._run()
        except (TwinError, KeyError, ValueError) as exc:
            self.status.update(phase="Error", message=str(exc))
        except Exception as exc:  # a twin bug must end the workflow visibly
            log.exception("workflow %s failed in the twin", self.holder)
            self.status.update(phase="Error", message=f"twin executor error: {exc}")
        finally:
            for scope in list(self.daemons):
                argo_graph.end_daemons(self, scope)
            for key in keys:
                self.mutexes.release(key, self.holder)
            for claim in self.spec.get("volumeClaimTemplates") or []:
                shutil.rmtree(
                    pvc_dir(
                        self.pods.home, self.namespace, f"{self.name}-{claim['metadata']['name']}"
                    ),
                    ignore_errors=True,
                )
            self.status["finishedAt"] = now_rfc3339()
            self._done.set()
            self._dirty.set()
            publisher.join(timeout=5)
            self._write_status()

    def _run(self) -> list[str]:
        self.spec = merged_spec(
            self.store,
            {
                "metadata": {"namespace": self.namespace},
                "spec": (self._current() or {}).get("spec") or {},
            },
        )
        self.templates = {t["name"]: t for t in self.spec.get("templates") or []}
        params = workflow_parameters(self.spec)
        self.globals = {
            "workflow.name": self.name,
            "workflow.namespace": self.namespace,
            "workflow.uid": self.uid,
            "workflow.parameters": json.dumps([{"name": k, "value": v} for k, v in params.items()]),
            "workflow.serviceAccountName": str(self.spec.get("serviceAccountName", "default")),
            "workflow.creationTimestamp": self.status["startedAt"],
        }
        self.globals.update({f"workflow.parameters.{k}": v for k, v in params.items()})
        if self.spec.get("parallelism") is not None:
            if not str(self.spec["parallelism"]).isdigit():
                raise SpecError(f"spec.parallelism {self.spec['parallelism']!r} is not an integer")
            if int(self.spec["parallelism"]):
                self.pod_slots = threading.BoundedSemaphore(int(self.spec["parallelism"]))
        keys = mutex_keys(
            substitute_all(self.spec.get("synchronization"), self.globals), self.namespace
        )
        for key in keys:
            if not self.mutexes.acquire(key, self.holder, self._waiting, self.cancelled):
                self.status.update(phase="Failed", message=self.cancel_message())
                return keys
        self.status.update(phase="Running", message="")
        self._dirty.set()
        if self.spec.get("activeDeadlineSeconds"):
            timer = threading.Timer(
                float(self.spec["activeDeadlineSeconds"]), self.shutdown, ("deadline",)
            )
            timer.daemon = True
            timer.start()
        if "entrypoint" not in self.spec:
            raise SpecError("spec.entrypoint is required")
        root = self.execute(
            {"template": self.spec["entrypoint"]}, self.name, self.name, None, None, {}
        )
        main = self.tree.get(root)
        argo_graph.end_daemons(self, root)
        phase = "Failed" if self._shutdown and main["phase"] not in FAILED else main["phase"]
        message = self.cancel_message() if self._shutdown else main.get("message", "")
        if self.spec.get("onExit") and self._shutdown != "Terminate":
            self._in_exit_handler = True
            self.globals["workflow.status"] = phase
            self.globals["workflow.failures"] = json.dumps(self._failures())
            exit_node = self.execute(
                {"template": self.spec["onExit"]},
                f"{self.name}.onExit",
                f"{self.name}.onExit",
                None,
                None,
                {},
            )
            argo_graph.end_daemons(self, exit_node)
            handler = self.tree.get(exit_node)
            if phase == "Succeeded" and handler["phase"] in FAILED:
                phase, message = handler["phase"], handler.get("message", "exit handler failed")
        self.status.update(phase=phase, message=message)
        return keys

    def _waiting(self, message: str) -> None:
        self.status.update(phase="Pending", message=message)
        self._dirty.set()

    def _failures(self) -> list[dict[str, str]]:
        return [
            {
                "displayName": n["displayName"],
                "message": n.get("message", ""),
                "templateName": n.get("templateName", ""),
                "phase": n["phase"],
                "podName": n["name"],
            }
            for n in self.tree.snapshot().values()
            if n["phase"] in FAILED and n["type"] == "Pod"
        ]

    def execute(
        self,
        holder: Obj,
        node_name: str,
        display: str,
        parent: str | None,
        boundary: str | None,
        args: dict[str, str],
    ) -> str:
        """Run the template ``holder`` names as node ``node_name``; returns the node id."""
        return argo_templates.execute(self, holder, node_name, display, parent, boundary, args)

    # -- status ----------------------------------------------------------------------------
    def _current(self) -> Obj | None:
        return self.store.get("Workflow", self.namespace, self.name)

    def _changed(self) -> None:
        self._dirty.set()

    def _publish_loop(self) -> None:
        while not self._done.is_set():
            if self._dirty.wait(timeout=0.5):
                self._dirty.clear()
                self._write_status()
                time.sleep(0.1)

    def _write_status(self) -> None:
        nodes = self.tree.snapshot()
        pods = [n for n in nodes.values() if n["type"] == "Pod"]
        done = [n for n in pods if n["phase"] == "Succeeded"]
        status = {
            **self.status,
            "nodes": nodes,
            "progress": f"{len(done)}/{len(pods)}",
            "synchronization": {"mutex": self.mutexes.status(self.holder)},
        }
        outputs = [
            {"name": k.split(".")[-1], "value": v}
            for k, v in self.globals.items()
            if k.startswith("workflow.outputs.parameters.")
        ]
        if outputs:
            status["outputs"] = {"parameters": outputs}
        self.store.update_status("Workflow", self.namespace, self.name, status)
