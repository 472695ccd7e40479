"""One container of a pod as a local process: its argv, environment, user and folders.

Kubernetes' rules: ``command`` replaces the image ENTRYPOINT, ``args`` its CMD; ``$(VAR)`` in
command/args/env expands earlier variables; env comes from ``value``, ``configMapKeyRef``,
``secretKeyRef``, ``fieldRef`` (``status.podIP``, ``metadata.*``) and ``envFrom``; the user is
the container's ``runAsUser``, else the pod's, else the image's USER (numeric), with
``runAsGroup``, ``fsGroup`` and ``supplementalGroups``. Container paths (volume mount paths,
``/tmp``, the image's folders) are rewritten to their host folders in command, args, env,
``workingDir`` and script sources, longest mount first, only where a path starts.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from twin.cluster.images import ImageRuntime
from twin.cluster.interfaces import Obj, ObjectStore
from twin.cluster.volumes import MountError, object_data
from twin.errors import TwinError


class ConfigError(TwinError):
    """kubelet's CreateContainerConfigError: a missing ConfigMap/Secret key or a bad user."""


class PathMapper:
    """Container paths to host paths, for the container's view of its filesystem."""

    def __init__(self, pairs: dict[str, Path]) -> None:
        self.pairs = sorted(
            ((c.rstrip("/") or "/", h) for c, h in pairs.items()), key=lambda p: -len(p[0])
        )
        alternatives = "|".join(re.escape(c) for c, _ in self.pairs if c != "/")
        self._regex = (
            re.compile(rf"(?<![\w./-])({alternatives})(?=/|$|[^\w.-])") if alternatives else None
        )

    def host(self, container_path: str) -> Path:
        """The host path of an absolute container path (unmapped paths stay as they are)."""
        for prefix, host in self.pairs:
            if container_path == prefix or container_path.startswith(prefix.rstrip("/") + "/"):
                rest = container_path[len(prefix) :].lstrip("/")
                return host / rest if rest else host
        return Path(container_path)

    def rewrite(self, text: str) -> str:
        """``text`` with every container path that starts a word replaced by its host path."""
        if self._regex is None:
            return text
        lookup = {c: h for c, h in self.pairs}
        return self._regex.sub(lambda m: str(lookup[m.group(1)]), text)


@dataclass
class PodContext:
    """What every container of a pod shares."""

    namespace: str
    name: str
    uid: str
    ip: str
    loopback: str
    pod_dir: Path
    spec: Obj
    labels: dict[str, str]
    volumes: dict[str, Path]
    base_env: dict[str, str] = field(default_factory=dict)
    project_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Launch:
    """A container ready to start."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    user: int | None
    group: int | None
    groups: list[int]
    mapper: PathMapper
    stop_signal: int
    log_dir: Path

    def start(self) -> subprocess.Popen[bytes]:
        """Spawn the process in its own session, stdout and stderr to ``<name>.out/.err``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        handles: list[IO[bytes]] = [
            (self.log_dir / f"{self.name}.{s}").open("ab") for s in ("out", "err")
        ]
        try:
            return subprocess.Popen(  # noqa: S603 - argv from the pod spec, never a shell string
                self.argv,
                stdout=handles[0],
                stderr=handles[1],
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                user=self.user,
                group=self.group,
                extra_groups=self.groups if self.user is not None else None,
            )
        except OSError as exc:
            raise TwinError(
                f"container {self.name}: cannot start {self.argv[0]!r}: {exc.strerror}"
            ) from None
        finally:
            for handle in handles:
                handle.close()


_SYSTEM_DIRS = {"bin", "sbin", "usr", "lib", "lib64", "etc", "var", "dev", "proc", "sys", "run"}
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion (``$$`` escapes; unknown variables stay)."""
    return _VAR.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def _field(ctx: PodContext, path: str) -> str:
    simple = {
        "metadata.name": ctx.name,
        "metadata.namespace": ctx.namespace,
        "metadata.uid": ctx.uid,
        "status.podIP": ctx.ip,
        "status.podIPs": ctx.ip,
        "status.hostIP": "127.0.0.1",
        "spec.nodeName": "twin",
        "spec.serviceAccountName": str(ctx.spec.get("serviceAccountName", "default")),
    }
    if path in simple:
        return simple[path]
    match = re.fullmatch(r"metadata\.labels\['([^']+)'\]", path)
    if match:
        return ctx.labels.get(match.group(1), "")
    raise ConfigError(f"fieldRef {path}: not supported by the twin")


def _ref_value(store: ObjectStore, ctx: PodContext, kind: str, ref: Obj) -> str | None:
    obj = store.get(kind, ctx.namespace, str(ref.get("name", "")))
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(
            f'CreateContainerConfigError: {kind.lower()} "{ref.get("name")}" not found'
        )
    data = object_data(obj)
    if ref["key"] not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(
            f"CreateContainerConfigError: couldn't find key {ref['key']} in {kind} "
            f"{ctx.namespace}/{ref.get('name')}"
        )
    return data[ref["key"]].decode()


def _env(
    store: ObjectStore, ctx: PodContext, container: Obj, image: ImageRuntime, mapper: PathMapper
) -> dict[str, str]:
    image_env = {k: mapper.rewrite(v) for k, v in image.env.items()}  # container paths in ENV
    env = {**ctx.base_env, **image_env, "PATH": ":".join(image.path), "HOSTNAME": ctx.name}
    if image.project:
        env.update(ctx.project_env)
        env["PYTHONPATH"] = ":".join(image.python_paths)
    for source in container.get("envFrom") or []:
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        obj = store.get(kind, ctx.namespace, str(ref.get("name", "")))
        if obj is None and not ref.get("optional"):
            raise ConfigError(
                f'CreateContainerConfigError: {kind.lower()} "{ref.get("name")}" not found'
            )
        for key, raw in object_data(obj or {}).items():
            env[f"{source.get('prefix', '')}{key}"] = mapper.rewrite(raw.decode())
    for item in container.get("env") or []:
        value: str | None
        if "valueFrom" not in item:
            value = expand(mapper.rewrite(str(item.get("value", ""))), env)
        else:
            source = item["valueFrom"]
            if "configMapKeyRef" in source:
                found = _ref_value(store, ctx, "ConfigMap", source["configMapKeyRef"])
                value = None if found is None else mapper.rewrite(found)
            elif "secretKeyRef" in source:
                found = _ref_value(store, ctx, "Secret", source["secretKeyRef"])
                value = None if found is None else mapper.rewrite(found)
            elif "fieldRef" in source:
                value = _field(ctx, source["fieldRef"]["fieldPath"])
            else:
                raise ConfigError(
                    f"env {item['name']}: {', '.join(source)} is not supported by the twin"
                )
        if value is not None:
            env[item["name"]] = value
    return env


def _user(
    ctx: PodContext, container: Obj, image: ImageRuntime
) -> tuple[int | None, int | None, list[int]]:
    pod_sc = ctx.spec.get("securityContext") or {}
    sc = {**pod_sc, **(container.get("securityContext") or {})}
    image_user, _, image_group = image.user.partition(":")
    uid: int | None = sc.get("runAsUser")
    if uid is None and image_user:
        if not image_user.isdigit():
            raise ConfigError(
                f"image {image.reference}: USER {image_user!r} is not numeric (set runAsUser)"
            )
        uid = int(image_user)
    if sc.get("runAsNonRoot") and not uid:
        raise ConfigError(
            "CreateContainerConfigError: container has runAsNonRoot and image will run as root"
        )
    if os.geteuid() != 0 or not uid:
        return None, None, []
    gid = sc.get("runAsGroup", int(image_group) if image_group.isdigit() else 0)
    groups = [
        int(g)
        for g in [pod_sc.get("fsGroup"), *(pod_sc.get("supplementalGroups") or [])]
        if g is not None
    ]
    return int(uid), int(gid), groups


def prepare(store: ObjectStore, ctx: PodContext, container: Obj, image: ImageRuntime) -> Launch:
    """Everything needed to start ``container`` (volumes already prepared).

    Raises:
        ConfigError: A missing reference, an unsupported field, a bad user.
        MountError: A volumeMount naming no volume.
    """
    name = str(container.get("name", "main"))
    mounts: dict[str, Path] = {"/tmp": ctx.pod_dir / "tmp"}  # noqa: S108 - the container's /tmp
    if image.rootfs is not None:
        mounts.update(
            {f"/{p.name}": p for p in image.rootfs.iterdir() if p.name not in _SYSTEM_DIRS}
        )
    for mount in container.get("volumeMounts") or []:
        if mount["name"] not in ctx.volumes:
            raise MountError(f"volumeMount {mount['name']}: no volume of that name in the pod")
        host = ctx.volumes[mount["name"]]
        mounts[mount["mountPath"]] = host / mount["subPath"] if mount.get("subPath") else host
    mapper = PathMapper(mounts)
    env = _env(store, ctx, container, image, mapper)
    command = container.get("command") or image.entrypoint
    args = (
        container.get("args")
        if container.get("args") is not None or container.get("command")
        else image.cmd
    )
    argv = [expand(mapper.rewrite(str(a)), env) for a in [*command, *(args or [])]]
    if (
        "twinScript" in container
    ):  # the Argo executor's script template (Argo: /argo/staging/script)
        script = ctx.pod_dir / "staging" / "script"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(mapper.rewrite(str(container["twinScript"])), encoding="utf-8")
        script.chmod(0o755)
        argv.append(str(script))
    if not argv:
        raise ConfigError(f"container {name}: no command (the image has no ENTRYPOINT/CMD)")
    cwd = mapper.host(str(container.get("workingDir") or image.workdir))
    cwd.mkdir(parents=True, exist_ok=True)
    user, group, groups = _user(ctx, container, image)
    stop = getattr(
        signal,
        image.stop_signal if image.stop_signal.startswith("SIG") else "SIGTERM",
        signal.SIGTERM,
    )
    return Launch(
        name, argv, env, cwd, user, group, groups, mapper, int(stop), ctx.pod_dir / "logs"
    )
