"""Fetch a manifest's model artifact and verify its sha256 (the deploy workflow's first gate).

A digest mismatch refuses the model: nothing is deployed that the manifest did not promise.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.io.digest import file_sha256
from pipelines.registry.bundle import DigestMismatch
from pipelines.registry.manifest import artifact_store_problem, model_key, read_manifest


class ArtifactError(PipelineError):
    """The artifact could not be fetched."""


def fetch(uri: str, target: Path, base: Path) -> Path:
    """Copy ``uri`` (``s3://``, ``file://`` or a path relative to ``base``) to ``target``."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client("s3")
        try:
            atomic.write_with(
                target,
                lambda tmp: client.download_file(parsed.netloc, parsed.path.lstrip("/"), str(tmp)),
            )
        except (BotoCoreError, ClientError) as exc:
            raise ArtifactError(f"{uri}: download failed ({exc})") from None
        return target
    if parsed.scheme in ("", "file"):
        source = Path(parsed.path) if parsed.scheme == "file" else base / uri
        if not source.is_file():
            raise ArtifactError(f"{uri}: artifact not found")

        def copy(tmp: Path) -> None:
            shutil.copyfile(source, tmp)

        atomic.write_with(target, copy)
        return target
    raise ArtifactError(
        f"{uri}: unsupported scheme {parsed.scheme!r} (expected s3, file or a path)"
    )


def verify(
    manifest_file: Path,
    download_to: Path,
    base: Path,
    expected_image: str | None = None,
    *,
    allow_local: bool = False,
) -> str:
    """Fetch the manifest's artifact and check its digest (and the image the deploy was given).

    A committed manifest must name an object in the artifact store (``s3://``): a repository
    path or a ``file://`` URI may happen to exist where this runs, but not in the pod that
    loads the bundle. ``allow_local`` accepts them (tests of the digest check only).

    Returns:
        The verified sha256.

    Raises:
        DigestMismatch: When the file's sha256 differs from the manifest's.
        ArtifactError: When nothing is deployed, the artifact is not in the artifact store,
            the image differs from ``expected_image`` or the artifact cannot be fetched.
    """
    doc = read_manifest(manifest_file)
    key = model_key(doc)
    if key is None:
        raise ArtifactError(f"{manifest_file}: model is null; nothing to deploy")
    uri = str(doc["model"]["artifact"]["uri"])
    problem = artifact_store_problem(uri)
    if problem is not None and not allow_local:
        raise ArtifactError(
            f"{manifest_file}: model.artifact.uri: {problem}; the pod cannot load it, refusing "
            "to deploy"
        )
    if expected_image is not None and doc["image"] != expected_image:
        raise ArtifactError(
            f"{manifest_file}: image is {doc['image']}, but the deploy was given "
            f"{expected_image}; refusing to deploy a unit the manifest does not name"
        )
    fetch(uri, download_to, base)
    actual = file_sha256(download_to)
    if actual != key[2]:
        download_to.unlink(missing_ok=True)
        raise DigestMismatch(
            f"{manifest_file}: artifact sha256 is {actual[:12]}..., manifest expects "
            f"{key[2][:12]}...; refusing the model"
        )
    return actual
