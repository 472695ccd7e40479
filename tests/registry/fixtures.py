"""Schema-valid manifests for tests (the promoted unit: image by digest + model)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pipelines.registry.image import DEFAULT_REPOSITORY
from pipelines.registry.manifest import empty_manifest, write_manifest


def image_for(label: str) -> str:
    """A distinct, valid image reference by digest for ``label``."""
    return f"{DEFAULT_REPOSITORY}@sha256:{hashlib.sha256(label.encode()).hexdigest()}"


def manifest(
    env: str,
    uri: str,
    sha256: str,
    *,
    name: str = "strategy-lgbm",
    version: str = "1",
    image: str | None = None,
) -> dict[str, Any]:
    """A manifest that deploys ``name`` ``version`` from ``uri``."""
    doc = empty_manifest(env)
    doc["image"] = image or image_for(f"{name}-{version}")
    doc["model"] = {
        "name": name,
        "version": version,
        "artifact": {"uri": uri, "sha256": sha256},
        "provenance": {
            "git_commit": "abcdef1",
            "dvc_data_hash": "d",
            "mlflow_run_id": "r",
            "params_hash": "p",
        },
        "evaluation": {"metrics": {}, "gate": {"verdict": "pass", "report_sha256": "0" * 64}},
        "promotion": {"from": "training", "at": "2026-11-27T00:00:00Z", "by": "t", "reason": "r"},
    }
    return doc


def write(path: Path, env: str, uri: str, sha256: str, **kwargs: Any) -> Path:
    """Write :func:`manifest` to ``path``."""
    return write_manifest(path, manifest(env, uri, sha256, **kwargs))
