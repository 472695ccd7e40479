"""The pod runner (``interfaces.PodRunner``): pods as local processes on their own loopback IPs.

``start`` allocates the pod IP at once and hands the rest to the pod's kubelet thread: the
image table (an unknown image leaves the pod Pending with ``ErrImagePull``), volumes (a
missing ConfigMap: ``FailedMount``), the containers' environment (a missing key:
``CreateContainerConfigError``), then the processes and their probes. Every pod is mirrored
into the store as a ``Pod`` object (``status.podIP``, ``phase``, the ``Ready`` condition) so
``kubectl get pods`` and the controllers see it; the cluster DNS is refreshed when readiness
changes. Pod folders: ``<home>/cluster/pods/<namespace>/<name>/`` (``logs/<container>.out``
and ``.err`` stay after deletion).
"""

from __future__ import annotations

import builtins
import logging
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from twin.cluster import chaos, volumes
from twin.cluster.containers import ConfigError, PodContext, prepare
from twin.cluster.dns import HOST_ALIAS, ClusterDns
from twin.cluster.images import ImagePullError, ImageTable
from twin.cluster.interfaces import Obj, ObjectStore, Pod
from twin.cluster.ipam import AddressPool, pod_pool, private_loopback
from twin.cluster.kubelet import Container, Kubelet
from twin.cluster.runtime import ensure_runtime, ensure_support, ensure_view, unreachable
from twin.cluster.store import now_rfc3339
from twin.errors import TwinError

log = logging.getLogger(__name__)


class AdmissionError(TwinError):
    """The API server refuses the pod (a missing ServiceAccount)."""


class LocalPodRunner:
    """Runs pods for the cluster process (see module doc)."""

    def __init__(
        self,
        home: Path,
        store: ObjectStore,
        kube_url: str,
        pool: AddressPool | None = None,
        egress: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.home = home
        self.store = store
        self.kube_url = kube_url
        self.pool = pool or pod_pool()
        self.egress = egress or dict
        self.images = ImageTable(home, home / "cluster" / "runtime")
        self.dns = ClusterDns(home, store, lambda ns: self.list(ns))
        self._pods: dict[tuple[str, str], tuple[Pod, Kubelet | None]] = {}
        self._lock = threading.RLock()
        self._subscribers: list[Callable[[Pod], None]] = []
        self._runtime_lock = threading.Lock()

    # -- PodRunner -------------------------------------------------------------------------
    def start(self, namespace: str, name: str, pod_spec: Obj, labels: Mapping[str, str]) -> Pod:
        """Start a pod (returns at once, Pending, with its IP).

        Raises:
            TwinError: A pod of that name exists already.
        """
        with self._lock:
            if (namespace, name) in self._pods:
                raise TwinError(f"pod {namespace}/{name} already exists")
            ip = self.pool.acquire()
            pod_dir = self.home / "cluster" / "pods" / namespace / name
            shutil.rmtree(pod_dir, ignore_errors=True)
            pod = Pod(namespace, name, ip, dict(labels), pod_spec, log_dir=pod_dir / "logs")
            pod.extra["uid"] = str(uuid.uuid4())
            self._pods[(namespace, name)] = (pod, None)
        self._notify(pod)
        thread = threading.Thread(
            target=self._run, args=(pod, pod_dir), name=f"pod-{name}", daemon=True
        )
        pod.extra["kubelet_thread"] = thread
        thread.start()
        return pod

    def delete(self, pod: Pod, grace_seconds: float | None = None) -> None:
        """Terminate a pod (preStop, stop signal, SIGKILL after the grace period); free its IP."""
        with self._lock:
            entry = self._pods.get((pod.namespace, pod.name))
        if entry is None:
            return
        _, kubelet = entry
        if not pod.extra.get("deletion_timestamp"):
            # Endpoints drop the pod now, before its preStop hook runs (Kubernetes' order).
            pod.extra["deletion_timestamp"] = now_rfc3339()
            self._notify(pod)
        grace = (
            grace_seconds
            if grace_seconds is not None
            else float(pod.spec.get("terminationGracePeriodSeconds", 30))
        )
        if kubelet is not None:
            kubelet.stopping.set()
            thread = pod.extra.get("kubelet_thread")
            if isinstance(thread, threading.Thread) and thread is not threading.current_thread():
                thread.join(timeout=grace + 5)  # no container (re)starts after this point
            kubelet.terminate(grace)
        with self._lock:
            self._pods.pop((pod.namespace, pod.name), None)
        self.pool.release(pod.ip)
        volumes.cleanup(self.home / "cluster" / "pods" / pod.namespace / pod.name)
        pod.extra["deleted"] = True
        pod.ready = False
        self._notify(pod)

    def list(self, namespace: str | None = None) -> builtins.list[Pod]:
        """Pods that exist, in any phase."""
        with self._lock:
            return [
                p for (ns, _), (p, _) in self._pods.items() if namespace is None or ns == namespace
            ]

    # -- extras for the cluster ------------------------------------------------------------
    def get(self, namespace: str, name: str) -> Pod | None:
        """One pod, or None."""
        with self._lock:
            entry = self._pods.get((namespace, name))
        return entry[0] if entry else None

    def subscribe(self, callback: Callable[[Pod], None]) -> None:
        """Call ``callback(pod)`` on every visible change of any pod (phase, ready, message)."""
        self._subscribers.append(callback)

    def delete_all(self, grace_seconds: float = 5.0) -> None:
        """Delete every pod (the cluster is stopping)."""
        threads = [
            threading.Thread(target=self.delete, args=(p, grace_seconds)) for p in self.list()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # -- internals -------------------------------------------------------------------------
    def _run(self, pod: Pod, pod_dir: Path) -> None:
        try:
            kubelet = self._build(pod, pod_dir)
        except Exception as exc:  # every setup failure must show on the pod, named
            reason = (
                "ErrImagePull"
                if isinstance(exc, ImagePullError)
                else "FailedMount"
                if isinstance(exc, volumes.MountError)
                else "FailedCreate"
                if isinstance(exc, AdmissionError)
                else "CreateContainerConfigError"
                if isinstance(exc, TwinError)
                else "CreateContainerError"
            )
            if not isinstance(exc, TwinError):
                log.exception("setting up pod %s/%s failed", pod.namespace, pod.name)
            pod.extra["reason"] = reason
            pod.message = str(exc) if str(exc).startswith(reason) else f"{reason}: {exc}"
            self._notify(pod)
            return
        with self._lock:
            if (pod.namespace, pod.name) not in self._pods:
                return  # deleted while it was being set up
            self._pods[(pod.namespace, pod.name)] = (pod, kubelet)
        try:
            kubelet.run()
        except Exception as exc:  # a kubelet bug must show on the pod, not vanish in a thread
            log.exception("kubelet of %s/%s failed", pod.namespace, pod.name)
            pod.phase, pod.message = "Failed", f"twin kubelet error: {exc}"
            self._notify(pod)

    def _build(self, pod: Pod, pod_dir: Path) -> Kubelet:
        account = str(pod.spec.get("serviceAccountName") or "default")
        if (
            account != "default"
            and self.store.get("ServiceAccount", pod.namespace, account) is None
        ):
            raise AdmissionError(
                f'FailedCreate: pods "{pod.name}" is forbidden: error looking up service account '
                f'{pod.namespace}/{account}: serviceaccount "{account}" not found'
            )
        for sub in ("tmp", "home", "logs"):
            (pod_dir / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("tmp", "home"):
            (pod_dir / sub).chmod(0o1777)
        specs = [*(pod.spec.get("initContainers") or []), *(pod.spec.get("containers") or [])]
        images = {c["image"]: self.images.resolve(str(c["image"])) for c in specs}
        with self._runtime_lock:
            if any(i.project for i in images.values()):
                ensure_runtime(self.home)
            else:
                ensure_support(self.home)
            for image in images.values():
                if image.packages:  # the image lock's packages only, not the whole venv
                    image.path[0] = str(ensure_view(self.home, image.packages) / "bin")
        for image in images.values():
            if image.rootfs is not None:  # a writable layer per pod: copy the image's tree
                copy = pod_dir / "rootfs" / image.digest.partition(":")[2][:12]
                if not copy.exists():
                    shutil.copytree(image.rootfs, copy, symlinks=True)
                image.python_paths = [
                    str(copy / Path(p).relative_to(image.rootfs))
                    if Path(p).is_relative_to(image.rootfs)
                    else p
                    for p in image.python_paths
                ]
                image.rootfs = copy
        folders = volumes.prepare(self.home, self.store, pod.namespace, pod_dir, pod.spec)
        (pod_dir / "gitconfig").write_text(self.dns.git_config(), encoding="utf-8")
        (pod_dir / ".curlrc").write_text(self.dns.curlrc(), encoding="utf-8")
        ctx = PodContext(
            pod.namespace,
            pod.name,
            pod.extra["uid"],
            pod.ip,
            private_loopback(pod.ip),
            pod_dir,
            pod.spec,
            pod.labels,
            folders,
        )
        ctx.base_env = {
            "HOME": str(pod_dir / "home"),
            "TMPDIR": str(pod_dir / "tmp"),
            "GIT_CONFIG_GLOBAL": str(pod_dir / "gitconfig"),
            "CURL_HOME": str(pod_dir),
            "TWIN_KUBE_URL": self.kube_url,
            "LANG": "C.UTF-8",
        }
        ctx.project_env = {
            **self.egress(),
            "TWIN_POD_IP": pod.ip,
            "TWIN_POD_LOOPBACK": ctx.loopback,
            "TWIN_POD_NAMESPACE": pod.namespace,
            "TWIN_DNS_FILE": str(self.dns.path),
            "TWIN_HOST_ALIAS": HOST_ALIAS,
            **chaos.env_for(self.home, self.store, pod.namespace, pod.spec),
        }
        init = [
            Container(c, prepare(self.store, ctx, c, images[c["image"]]))
            for c in pod.spec.get("initContainers") or []
        ]
        main = [
            Container(c, prepare(self.store, ctx, c, images[c["image"]]))
            for c in pod.spec.get("containers") or []
        ]
        if any(c.launch.user is not None for c in [*init, *main]):
            blocked = unreachable(self.home)
            if blocked is not None:
                raise ConfigError(
                    "CreateContainerConfigError: the pod runs as a non-root user, who cannot "
                    f"reach {blocked} (a parent folder is not searchable by others: put "
                    "TWIN_HOME and the checkout under world-searchable folders)"
                )
        pod.extra["mappers"] = {c.launch.name: c.launch.mapper for c in [*init, *main]}
        return Kubelet(pod, main, init, self._notify)

    def _notify(self, pod: Pod) -> None:
        self._mirror(pod)
        for callback in list(self._subscribers):
            try:
                callback(pod)
            except Exception:
                log.exception("pod subscriber failed")
        self.dns.refresh()

    def _mirror(self, pod: Pod) -> None:
        if pod.extra.get("deleted"):
            self.store.delete("Pod", pod.namespace, pod.name)
            return
        stored = self.store.get("Pod", pod.namespace, pod.name)
        deletion = pod.extra.get("deletion_timestamp")
        if stored is None:
            meta: Obj = {"name": pod.name, "namespace": pod.namespace, "labels": pod.labels}
            meta["uid"] = pod.extra["uid"]
            if deletion:
                meta["deletionTimestamp"] = deletion
            self.store.apply(
                {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod.spec}
            )
        elif deletion and stored["metadata"].get("deletionTimestamp") != deletion:
            stored["metadata"]["deletionTimestamp"] = deletion
            self.store.apply(stored)
        ready = {"type": "Ready", "status": str(pod.ready), "message": pod.message}
        ready["lastTransitionTime"] = now_rfc3339()
        status: Obj = {
            "phase": pod.phase,
            "podIP": pod.ip,
            "podIPs": [{"ip": pod.ip}],
            "hostIP": "127.0.0.1",
        }
        status.update(conditions=[ready], message=pod.message, restartCount=pod.restarts)
        status["reason"] = pod.extra.get("reason", "")
        self.store.update_status("Pod", pod.namespace, pod.name, status)
