"""Lint of the promoted unit: the manifest itself, and what kustomize renders from it.

- ``model.yaml`` follows its schema (a malformed sha256, a missing image, an all-zero image with
  a model or a real one without), names its overlay's environment, and its bundle is an object
  in the artifact store (``s3://``), never a repository path or a machine path;
- every container image in the rendered overlay is pinned by digest, the strategy container
  runs exactly the manifest's image, and the manifest itself is not in the output;
- the service listens where the pod is reachable (``--host`` not loopback) and downloads its
  bundle into a mounted volume when the root filesystem is read-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.delivery.lint.findings import Finding
from pipelines.registry import image as images
from pipelines.registry.manifest import (
    KIND,
    ManifestError,
    artifact_store_problem,
    read_manifest,
)

WORKLOADS = ("Rollout", "Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet")
SERVICE_CONTAINER = "strategy"
LOOPBACK = ("127.", "localhost", "::1")


def check_manifest(overlay: Path, source: str) -> tuple[list[Finding], dict[str, Any] | None]:
    """Findings for ``<overlay>/model.yaml`` and the manifest when it is valid."""
    where = f"{source}/model.yaml"
    try:
        doc = read_manifest(overlay / "model.yaml")
    except ManifestError as exc:
        message = str(exc).split(": ", 1)[-1]
        return [Finding(where, "ModelManifest", message)], None
    found = []
    if doc["environment"] != overlay.name:
        found.append(
            Finding(where, "environment", f"{doc['environment']!r}, expected {overlay.name!r}")
        )
    model = doc.get("model")
    if model:
        problem = artifact_store_problem(str(model["artifact"]["uri"]))
        if problem:
            found.append(Finding(where, "model.artifact.uri", problem))
    return found, doc


def _pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if kind in WORKLOADS:
        yield "spec.template.spec", (spec.get("template") or {}).get("spec") or {}
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        yield "spec.jobTemplate.spec.template.spec", (job.get("template") or {}).get("spec") or {}
    elif kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
        for index, metric in enumerate(spec.get("metrics") or []):
            job = ((metric.get("provider") or {}).get("job") or {}).get("spec") or {}
            if job:
                yield (
                    f"spec.metrics[{index}].provider.job.spec.template.spec",
                    (job.get("template") or {}).get("spec") or {},
                )


def _containers(pod: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in ("initContainers", "containers"):
        for index, container in enumerate(pod.get(key) or []):
            yield f"{key}[{index}]", container


def _flag(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return str(args[index + 1])
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _serving_findings(source: str, where: str, container: dict[str, Any]) -> list[Finding]:
    args = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    if "serve" not in args:
        return []
    found = []
    host = _flag(args, "--host")
    if host is None or host.startswith(LOOPBACK):
        found.append(
            Finding(
                source,
                f"{where}: args --host {host or '(unset: serving.host, 127.0.0.1)'}",
                "the service would listen on loopback only; kubelet probes and the Service "
                "reach the pod IP (pass --host 0.0.0.0)",
            )
        )
    read_only = (container.get("securityContext") or {}).get("readOnlyRootFilesystem")
    cache = _flag(args, "--cache-dir")
    mounts = [str(m.get("mountPath", "")) for m in container.get("volumeMounts") or []]
    on_volume = cache is not None and any(
        cache == m or cache.startswith(m.rstrip("/") + "/") for m in mounts
    )
    if read_only and not on_volume:
        found.append(
            Finding(
                source,
                f"{where}: args --cache-dir {cache or '(unset)'}",
                "the root filesystem is read-only: the bundle cache must be a mounted volume",
            )
        )
    return found


def check_rendered(
    source: str, docs: list[dict[str, Any]], manifest: dict[str, Any] | None
) -> list[Finding]:
    """Findings for the rendered objects of one overlay."""
    found = []
    for doc in docs:
        kind = doc.get("kind")
        name = (doc.get("metadata") or {}).get("name", "?")
        if kind == KIND:
            found.append(
                Finding(
                    source,
                    f"{KIND}/{name}",
                    "rendered into the output: annotate it config.kubernetes.io/local-config",
                )
            )
        for pod_path, pod in _pod_specs(doc):
            for container_path, container in _containers(pod):
                where = f"{kind}/{name}: {pod_path}.{container_path}"
                image = str(container.get("image", ""))
                try:
                    images.split(image, "image")
                except images.ImageError:
                    found.append(
                        Finding(source, f"{where}.image", f"{image!r} is not pinned by digest")
                    )
                is_service = kind == "Rollout" and container.get("name") == SERVICE_CONTAINER
                if is_service and manifest is not None and image != manifest["image"]:
                    found.append(
                        Finding(
                            source,
                            f"{where}.image",
                            f"{image!r} is not model.yaml's image {manifest['image']!r} "
                            "(the overlay's replacements must copy it)",
                        )
                    )
                if kind == "Rollout":
                    found += _serving_findings(source, where, container)
    return found
