"""Which artifact digests the model registry knows (rollback refuses unknown ones).

Training tags every MLflow model version with the sha256 of its bundle; a rollback target must
be a version whose tag matches the manifest's digest. The interface is one method, so tests can
use a real local MLflow (SQLite) or a plain in-memory class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pipelines.errors import PipelineError


class RegistryError(PipelineError):
    """The registry could not be read."""


class DigestRegistry(Protocol):
    """Answers whether a model version with this artifact digest is registered."""

    def knows(self, name: str, version: str, sha256: str) -> bool:
        """True when ``name`` version ``version`` is registered with digest ``sha256``."""
        ...


@dataclass
class InMemoryRegistry:
    """A registry held in a dict (tests and dry runs)."""

    versions: dict[tuple[str, str], str] = field(default_factory=dict)

    def knows(self, name: str, version: str, sha256: str) -> bool:
        """See :class:`DigestRegistry`."""
        return self.versions.get((name, version)) == sha256


@dataclass
class MlflowRegistry:
    """The MLflow model registry at ``tracking_uri`` (the tag name comes from params)."""

    tracking_uri: str
    tag: str = "sha256"

    def knows(self, name: str, version: str, sha256: str) -> bool:
        """See :class:`DigestRegistry`."""
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        try:
            found = client.get_model_version(name, version)
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or (
                "not found" in str(exc).lower()
            ):
                return False
            raise RegistryError(f"MLflow registry {self.tracking_uri}: {exc}") from None
        return (found.tags or {}).get(self.tag) == sha256


def move_alias(tracking_uri: str, name: str, alias: str, version: str) -> str | None:
    """Point MLflow alias ``alias`` at ``version``; keep the old target as ``<alias>-previous``.

    Returns:
        The version the alias pointed at before (None when it was unset).
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        previous: str | None = str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        previous = None
    if previous is not None and previous != str(version):
        client.set_registered_model_alias(name, f"{alias}-previous", previous)
    client.set_registered_model_alias(name, alias, str(version))
    return previous
