"""Read a model manifest and environment settings, and fetch the artifact they name.

The manifest (``environments/<env>/model.yaml``) says which bundle to serve and its sha256;
``model: null`` means nothing is deployed. The service reads it with the registry's schema
(:func:`load_manifest`); :func:`read_manifest` is the lenient reader offline tools (rehearsal)
still use on partial manifests. The artifact URI may be a relative or absolute file path, a
``file://`` URI or an ``s3://`` URI (boto3; ``AWS_ENDPOINT_URL`` selects a non-AWS endpoint).
The digest is checked by :func:`pipelines.registry.bundle.load_bundle`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from pipelines.errors import ConfigError, PipelineError
from pipelines.io import atomic


@dataclass(frozen=True)
class ModelRef:
    """What a manifest names: model name, version, artifact URI and its promised sha256."""

    name: str
    version: str
    uri: str
    sha256: str


def _read_yaml(path: str | Path) -> Any:
    file = Path(path)
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found") from None
    except yaml.YAMLError:
        raise ConfigError(f"{file}: not valid YAML") from None


def load_manifest(path: str | Path) -> ModelRef | None:
    """Read a manifest with the registry's schema; None when it deploys nothing.

    Raises:
        ManifestError: The file is missing, not YAML or not a valid manifest (one line).
    """
    from pipelines.registry.manifest import model_key
    from pipelines.registry.manifest import read_manifest as read_valid

    doc = read_valid(path)
    key = model_key(doc)
    if key is None:
        return None
    return ModelRef(key[0], key[1], str(doc["model"]["artifact"]["uri"]), key[2])


def read_manifest(path: str | Path) -> ModelRef | None:
    """Read a possibly partial manifest; None when it deploys nothing (``model: null``).

    Raises:
        ConfigError: The file is missing or a required field is absent or of the wrong type.
    """
    raw = _read_yaml(path)
    if not isinstance(raw, dict) or "model" not in raw:
        raise ConfigError(f"{path}: expected a mapping with a 'model' key")
    model = raw["model"]
    if model is None:
        return None
    if not isinstance(model, dict):
        raise ConfigError(f"{path}: model: expected a mapping or null")
    artifact = model.get("artifact")
    if not isinstance(artifact, dict):
        raise ConfigError(f"{path}: model.artifact: expected a mapping with uri and sha256")
    fields = {
        "model.name": model.get("name"),
        "model.version": model.get("version"),
        "model.artifact.uri": artifact.get("uri"),
        "model.artifact.sha256": artifact.get("sha256"),
    }
    for key, value in fields.items():
        if not isinstance(value, str | int) or str(value) == "":
            raise ConfigError(f"{path}: {key}: expected a non-empty string")
    sha = str(artifact["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ConfigError(f"{path}: model.artifact.sha256: expected 64 hex digits")
    return ModelRef(str(model["name"]), str(model["version"]), str(artifact["uri"]), sha)


def read_settings(path: str | Path) -> dict[str, Any]:
    """Read ``environments/<env>/settings.yaml`` as a mapping.

    Raises:
        ConfigError: The file is missing, not YAML or not a mapping.
    """
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping")
    return raw


def fetch_artifact(uri: str, cache_dir: str | Path, base_dir: str | Path = ".") -> Path:
    """Return a local path for the artifact, downloading ``s3://`` objects into ``cache_dir``.

    Args:
        uri: File path (relative to ``base_dir``), ``file://`` URI or ``s3://bucket/key``.
        cache_dir: Where downloaded objects are kept.
        base_dir: What relative paths are relative to (the repository root).

    Raises:
        PipelineError: Unsupported scheme or a failed download.
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        local = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)
        return local if local.is_absolute() else Path(base_dir) / local
    if parsed.scheme != "s3":
        raise PipelineError(f"artifact uri {uri}: expected a file path, file:// or s3://")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    target = Path(cache_dir) / bucket / key
    client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (BotoCoreError, ClientError) as exc:
        raise PipelineError(f"artifact uri {uri}: download failed ({exc})") from None
    atomic.write_bytes(target, body)
    return target
