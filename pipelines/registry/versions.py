"""Model versions in the MLflow registry: find by bundle digest, record deployments and rollbacks.

Every function takes a tracking URI (a server URL, or the embedded ``sqlite:///mlflow.db``) and
uses the registry there; the tag names come from :mod:`pipelines.registry.tags`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipelines.errors import PipelineError
from pipelines.registry import rest, tags

if TYPE_CHECKING:
    from mlflow import MlflowClient


class RegistryError(PipelineError):
    """The model registry could not be read or written."""


def client_for(tracking_uri: str) -> MlflowClient:
    """An MLflow client whose tracking and registry stores are both ``tracking_uri``."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _delivery_client(tracking_uri: str) -> tuple[Any, type[Exception]]:
    """The client of the deploy's, promotion's and rollback's calls, and what it raises.

    Over REST (:class:`rest.RestClient`, no MLflow import) where :func:`rest.applies`;
    otherwise the MLflow client.
    """
    if rest.applies(tracking_uri):
        return rest.RestClient(tracking_uri), rest.RestError
    from mlflow.exceptions import MlflowException

    return client_for(tracking_uri), MlflowException


def _missing(exc: Exception) -> bool:
    code = str(getattr(exc, "error_code", ""))
    if "RESOURCE_DOES_NOT_EXIST" in code or getattr(exc, "status", None) == 404:
        return True
    return "not found" in str(exc).lower()


def find_by_digest(tracking_uri: str, name: str, sha256: str) -> Any | None:
    """The oldest version of ``name`` registered with bundle digest ``sha256`` (None: none).

    Raises:
        RegistryError: The registry cannot be searched.
    """
    from mlflow.exceptions import MlflowException

    query = f"name = '{name}' and tags.{tags.DIGEST_TAG} = '{sha256}'"
    try:
        found = list(client_for(tracking_uri).search_model_versions(query))
    except MlflowException as exc:
        if _missing(exc):
            return None
        raise RegistryError(f"MLflow registry {tracking_uri}: {exc}") from None
    # Two registrations racing on one digest leave two versions: the oldest is the answer.
    return min(found, key=lambda v: int(v.version)) if found else None


def version_tags(tracking_uri: str, name: str, version: str) -> dict[str, str] | None:
    """The tags of a model version (None when the version does not exist).

    Raises:
        RegistryError: The registry cannot be read.
    """
    client, error = _delivery_client(tracking_uri)
    try:
        found = client.get_model_version(name, str(version))
    except error as exc:
        if _missing(exc):
            return None
        raise RegistryError(f"MLflow registry {tracking_uri}: {exc}") from None
    return dict(found.tags or {})


def _set(tracking_uri: str, name: str, version: str, values: dict[str, str]) -> None:
    client, error = _delivery_client(tracking_uri)
    try:
        for key, value in values.items():
            client.set_model_version_tag(name, str(version), key, value)
    except error as exc:
        raise RegistryError(f"MLflow registry {tracking_uri}: {name} {version}: {exc}") from None


def record_deployed(
    tracking_uri: str, name: str, version: str, env: str, image: str, at: datetime | None = None
) -> None:
    """Record that ``env`` finished deploying the version with ``image`` (Rollout healthy)."""
    _set(
        tracking_uri,
        name,
        version,
        {tags.deployed_tag(env): tags.timestamp(at), tags.deployed_image_tag(env): image},
    )


def record_rolled_back(
    tracking_uri: str, name: str, version: str, env: str, at: datetime | None = None
) -> None:
    """Record that a rollback took the version out of ``env``."""
    _set(tracking_uri, name, version, {tags.rolled_back_tag(env): tags.timestamp(at)})


def move_alias(tracking_uri: str, name: str, alias: str, version: str) -> str | None:
    """Point alias ``alias`` at ``version``; keep the old target as ``<alias>-previous``.

    Returns:
        The version the alias pointed at before (None when it was unset).
    """
    client, error = _delivery_client(tracking_uri)
    try:
        previous: str | None = str(client.get_model_version_by_alias(name, alias).version)
    except error:
        previous = None
    try:
        if previous is not None and previous != str(version):
            client.set_registered_model_alias(name, f"{alias}-previous", previous)
        client.set_registered_model_alias(name, alias, str(version))
    except error as exc:
        raise RegistryError(f"MLflow registry {tracking_uri}: alias {alias}: {exc}") from None
    return previous
