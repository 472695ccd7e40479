"""Model manifests (``environments/<env>/model.yaml``): schema, parse, render, atomic write.

A manifest names the promoted unit of an environment: the service image by digest and the model
(version, artifact URI and digest, provenance, evaluation, promotion record). It is also a
kustomize resource marked ``local-config``: the overlay copies ``image`` into the Rollout and
kustomize drops the manifest itself from its output, so a ``git revert`` of a promotion reverts
code and model together. ``model: null`` means nothing is deployed yet (the image then carries
the all-zero digest). The JSON Schema lives beside this module.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from pipelines.errors import PipelineError
from pipelines.io import atomic, yamlio
from pipelines.registry import image as images

API_VERSION = "pipelines.trading/v1"
KIND = "ModelManifest"
# kustomize's replacement in each overlay selects the manifest by this name.
RESOURCE_NAME = "promoted-unit"
LOCAL_CONFIG = "config.kubernetes.io/local-config"
KEY_ORDER = ("apiVersion", "kind", "metadata", "environment", "image", "model")
SCHEMA_PATH = Path(__file__).with_name("schemas") / "model_manifest.schema.json"
HEADER = (
    "# The promoted unit (service image by digest + model), and only it. Edited by promotion\n"
    "# pull requests, rolled back by git revert; kustomize copies image into the Rollout.\n"
)


class ManifestError(PipelineError):
    """A manifest is missing, is not YAML or does not follow the schema."""


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def validate_manifest(doc: Any, source: str = "model.yaml") -> dict[str, Any]:
    """Check a loaded manifest against the schema.

    Args:
        doc: The mapping loaded from YAML.
        source: File name used in the error message.

    Returns:
        The same mapping, known to be valid.

    Raises:
        ManifestError: Naming the first offending field and what was expected.
    """
    errors = sorted(_validator().iter_errors(doc), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        first = errors[0]
        if "allOf" in first.schema_path and isinstance(doc, dict):
            raise ManifestError(f"{source}: image: {_image_rule(doc)}")
        # oneOf hides the useful message; the deepest sub-error names the real field.
        if first.context:
            # Skip the "null" branch of model's oneOf when a model is given.
            branch = [e for e in first.context if e.relative_schema_path[0] != 0]
            first = max(branch or first.context, key=lambda e: len(e.absolute_path))
        where = _where(first.absolute_path)
        if where == "model.artifact.uri" and isinstance(first.instance, str):
            # Say why (a path on one machine), not which regular expression failed.
            problem = artifact_store_problem(first.instance)
            if problem is not None:
                raise ManifestError(f"{source}: {where}: {problem}")
        raise ManifestError(f"{source}: {where}: {first.message}")
    if not isinstance(doc, dict):  # pragma: no cover - the schema already requires an object
        raise ManifestError(f"{source}: expected a mapping")
    return doc


def _image_rule(doc: dict[str, Any]) -> str:
    if doc.get("model") is None:
        return (
            f"{doc.get('image')!r}: expected the all-zero digest ({images.ZERO_DIGEST}) "
            "when model is null"
        )
    return "the all-zero digest names no image; a deployed model needs its image's digest"


def parse_manifest(text: str, source: str = "model.yaml") -> dict[str, Any]:
    """Parse and validate manifest text.

    Args:
        text: YAML text.
        source: File name used in error messages.

    Returns:
        The validated manifest mapping.

    Raises:
        ManifestError: If the text is not YAML or not a valid manifest.
    """
    try:
        doc = yamlio.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ManifestError(f"{source}:{where} not valid YAML") from None
    return validate_manifest(doc, source)


def empty_manifest(environment: str, repository: str = images.DEFAULT_REPOSITORY) -> dict[str, Any]:
    """The manifest of an environment where nothing is deployed yet."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": RESOURCE_NAME, "annotations": {LOCAL_CONFIG: "true"}},
        "environment": environment,
        "image": images.placeholder(repository),
        "model": None,
    }


def render_manifest(doc: dict[str, Any]) -> str:
    """Render a manifest as YAML text with a stable key order (validated first).

    Args:
        doc: The manifest mapping.

    Returns:
        The YAML text, header comment included.
    """
    validate_manifest(doc, f"manifest for {doc.get('environment', '?')}")
    ordered = {key: doc[key] for key in KEY_ORDER}
    body = yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return HEADER + body


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and validate a manifest file.

    Raises:
        ManifestError: If the file is missing, unreadable or invalid.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{file}: manifest not found") from None
    return parse_manifest(text, str(file))


def write_manifest(path: str | Path, doc: dict[str, Any]) -> Path:
    """Validate and write a manifest atomically."""
    return atomic.write_text(path, render_manifest(doc))


def model_key(doc: dict[str, Any]) -> tuple[str, str, str] | None:
    """``(name, version, sha256)`` of the deployed model, or None when nothing is deployed."""
    model = doc.get("model")
    if not model:
        return None
    return (model["name"], str(model["version"]), model["artifact"]["sha256"])


def unit_key(doc: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """``(name, version, sha256, image)`` of the promoted unit, or None when nothing is deployed."""
    key = model_key(doc)
    return None if key is None else (*key, str(doc["image"]))


ARTIFACT_STORE_SCHEMES = ("s3",)


def artifact_store_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be deployed from a committed manifest; None when it can (pure).

    A pod fetches its bundle from the artifact store (``s3://bucket/key``). A repository path
    exists neither in the image nor in any bucket, a ``file://`` URI is a path on one machine,
    and ``runs:/`` is the embedded MLflow's local store.
    """
    scheme, _, rest = uri.partition("://")
    if not rest:
        if uri.startswith("runs:/"):
            return (
                f"{uri!r} is in the embedded MLflow's local store (register against a tracking "
                "server with an S3 artifact root)"
            )
        return f"{uri!r} is a path, not an object in the artifact store (expected s3://...)"
    if scheme not in ARTIFACT_STORE_SCHEMES:
        return f"{uri!r} is not in the artifact store (expected s3://bucket/key)"
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        return f"{uri!r}: expected s3://<bucket>/<key>"
    return None
