"""What promotion and rollback ask the model registry, behind one small interface.

- rollback refuses a target whose digest no registered version carries;
- promotion to staging or prod asks whether the version ran *successfully* in the environment
  before (deployed and not rolled back since, see :func:`pipelines.registry.tags.ran_successfully`);
- the deploy workflow records a finished deployment, rollback records a rollback.

Tests use a real MLflow (:class:`MlflowRegistry`) or the in-memory one; both follow the same
tag names (:mod:`pipelines.registry.tags`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pipelines.registry import tags, versions
from pipelines.registry.versions import RegistryError, move_alias

__all__ = [
    "InMemoryRegistry",
    "MlflowRegistry",
    "ModelRegistry",
    "RegistryError",
    "move_alias",
]


class ModelRegistry(Protocol):
    """The registry questions and records of promotion, deployment and rollback."""

    def knows(self, name: str, version: str, sha256: str) -> bool:
        """True when ``name`` version ``version`` is registered with digest ``sha256``."""
        ...

    def tags(self, name: str, version: str) -> dict[str, str] | None:
        """The version's tags (None when it is not registered)."""
        ...

    def record_deployed(self, name: str, version: str, env: str, image: str) -> None:
        """Record a finished deployment of the version in ``env`` with ``image``."""
        ...

    def record_rolled_back(self, name: str, version: str, env: str) -> None:
        """Record that a rollback took the version out of ``env``."""
        ...


@dataclass
class InMemoryRegistry:
    """A registry held in dicts (tests and dry runs); same tag names as MLflow."""

    versions: dict[tuple[str, str], str] = field(default_factory=dict)
    version_tags: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def knows(self, name: str, version: str, sha256: str) -> bool:
        """See :class:`ModelRegistry`."""
        return self.versions.get((name, version)) == sha256

    def tags(self, name: str, version: str) -> dict[str, str] | None:
        """See :class:`ModelRegistry`."""
        if (name, version) not in self.versions:
            return None
        digest = {tags.DIGEST_TAG: self.versions[(name, version)]}
        return digest | self.version_tags.get((name, version), {})

    def record_deployed(self, name: str, version: str, env: str, image: str) -> None:
        """See :class:`ModelRegistry`."""
        self.version_tags.setdefault((name, version), {}).update(
            {tags.deployed_tag(env): tags.timestamp(), tags.deployed_image_tag(env): image}
        )

    def record_rolled_back(self, name: str, version: str, env: str) -> None:
        """See :class:`ModelRegistry`."""
        self.version_tags.setdefault((name, version), {})[tags.rolled_back_tag(env)] = (
            tags.timestamp()
        )


@dataclass
class MlflowRegistry:
    """The MLflow model registry at ``tracking_uri``."""

    tracking_uri: str

    def knows(self, name: str, version: str, sha256: str) -> bool:
        """See :class:`ModelRegistry`."""
        found = versions.version_tags(self.tracking_uri, name, version)
        return found is not None and found.get(tags.DIGEST_TAG) == sha256

    def tags(self, name: str, version: str) -> dict[str, str] | None:
        """See :class:`ModelRegistry`."""
        return versions.version_tags(self.tracking_uri, name, version)

    def record_deployed(self, name: str, version: str, env: str, image: str) -> None:
        """See :class:`ModelRegistry`."""
        versions.record_deployed(self.tracking_uri, name, version, env, image)

    def record_rolled_back(self, name: str, version: str, env: str) -> None:
        """See :class:`ModelRegistry`."""
        versions.record_rolled_back(self.tracking_uri, name, version, env)
