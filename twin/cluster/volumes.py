"""A pod's volumes as host folders, with Kubernetes' ownership rules.

- ``emptyDir``: a fresh folder, mode 1777 (as kubelet makes it), removed with the pod;
- ``configMap`` / ``secret``: the object's keys as files (``items`` honoured), mode
  ``defaultMode`` (0644), read-only by convention; a missing object fails the mount with
  kubelet's message unless ``optional: true``;
- ``persistentVolumeClaim``: ``<home>/cluster/pvcs/<namespace>/<claim>``, shared by every pod
  that mounts the claim (Argo's ``volumeClaimTemplates`` create those claims);
- with a pod ``securityContext.fsGroup``, writable volumes are group-owned by it and group
  writable (setgid folders), as kubelet applies fsGroup on mount.

Anything else (hostPath, projected, CSI) fails the pod with one line naming the volume.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

from twin.cluster.interfaces import Obj, ObjectStore
from twin.errors import TwinError


class MountError(TwinError):
    """A volume cannot be set up (kubelet: FailedMount)."""


def pvc_dir(home: Path, namespace: str, claim: str) -> Path:
    """The host folder of a PersistentVolumeClaim."""
    return home / "cluster" / "pvcs" / namespace / claim


def _write_keys(folder: Path, data: dict[str, bytes], items: list[Obj] | None, mode: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    chosen = (
        {str(i["key"]): str(i.get("path") or i["key"]) for i in items}
        if items
        else {k: k for k in data}
    )
    for key, rel in chosen.items():
        if key not in data:
            raise MountError(f'FailedMount: key "{key}" not found in the volume\'s source')
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[key])
        target.chmod(mode)


def _chgrp_writable(folder: Path, gid: int) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, -1, gid)
        extra = 0o2070 if path.is_dir() else 0o060
        path.chmod((path.stat().st_mode & 0o7777) | extra)  # noqa: S103 - kubelet's fsGroup rule


def prepare(
    home: Path, store: ObjectStore, namespace: str, pod_dir: Path, spec: Obj
) -> dict[str, Path]:
    """Create every volume of a pod spec; returns ``{volume name: host folder}``.

    Raises:
        MountError: A missing ConfigMap/Secret/key, or an unsupported volume type.
    """
    fs_group = (spec.get("securityContext") or {}).get("fsGroup")
    privileged = os.geteuid() == 0
    folders: dict[str, Path] = {}
    for volume in spec.get("volumes") or []:
        name = volume["name"]
        folder = pod_dir / "volumes" / name
        writable = True
        if "emptyDir" in volume:
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o1777)
        elif "configMap" in volume or "secret" in volume:
            writable = False
            source = volume.get("configMap") or volume.get("secret") or {}
            kind = "ConfigMap" if "configMap" in volume else "Secret"
            ref = str(source.get("name") or source.get("secretName") or "")
            obj = store.get(kind, namespace, ref)
            if obj is None:
                if source.get("optional"):
                    folder.mkdir(parents=True, exist_ok=True)
                    folders[name] = folder
                    continue
                raise MountError(f'FailedMount: {kind.lower()} "{ref}" not found (volume {name})')
            _write_keys(
                folder, object_data(obj), source.get("items"), int(source.get("defaultMode", 0o644))
            )
        elif "persistentVolumeClaim" in volume:
            folder = pvc_dir(home, namespace, volume["persistentVolumeClaim"]["claimName"])
            folder.mkdir(parents=True, exist_ok=True)
        else:
            kinds = ", ".join(k for k in volume if k != "name")
            raise MountError(f"volume {name}: {kinds} volumes are not supported by the twin")
        if privileged and fs_group is not None:
            if writable:
                _chgrp_writable(folder, int(fs_group))
            else:
                for path in [folder, *folder.rglob("*")]:
                    os.chown(path, -1, int(fs_group))
        folders[name] = folder
    return folders


def object_data(obj: Obj) -> dict[str, bytes]:
    """A ConfigMap's or Secret's keys as bytes (Secret ``data`` is base64, ``stringData`` not)."""
    out: dict[str, bytes] = {}
    if obj.get("kind") == "Secret":
        for key, value in (obj.get("data") or {}).items():
            out[key] = base64.b64decode(value)
        for key, value in (obj.get("stringData") or {}).items():
            out[key] = str(value).encode()
        return out
    for key, value in (obj.get("data") or {}).items():
        out[key] = str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        out[key] = base64.b64decode(value)
    return out


def cleanup(pod_dir: Path) -> None:
    """Remove a deleted pod's emptyDirs, tmp, home and image layer (its logs stay)."""
    for sub in ("volumes", "tmp", "home", "rootfs", "staging"):
        shutil.rmtree(pod_dir / sub, ignore_errors=True)
