"""The promoted unit: which model and which image a promotion writes into an environment.

dev receives the training candidate: its model (registered version, bundle in the artifact
store) and the image built for its training commit. staging and prod receive what the previous
environment runs, model and image together, and only when the registry says it ran there
successfully (deployed, and not rolled back since).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.delivery.candidate import Candidate
from pipelines.delivery.digests import ModelRegistry
from pipelines.errors import PipelineError
from pipelines.registry import image as images
from pipelines.registry.manifest import artifact_store_problem, empty_manifest
from pipelines.registry.tags import ran_successfully


class PromotionRefused(PipelineError):
    """The promotion breaks the dev -> staging -> prod order or races another one."""


@dataclass(frozen=True)
class Unit:
    """A model version, its bundle and the image that serves it."""

    name: str
    version: str
    uri: str
    sha256: str
    image: str
    provenance: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """``(name, version, sha256, image)``, comparable with ``manifest.unit_key``."""
        return (self.name, self.version, self.sha256, self.image)

    @property
    def label(self) -> str:
        """``name version (sha256 abcdef123456)`` for messages."""
        return f"{self.name} {self.version} (sha256 {self.sha256[:12]})"


def check_deployable(unit: Unit, env: str, source: str) -> None:
    """Refuse a unit a pod could not run: bundle outside the artifact store, image not pinned.

    Raises:
        PromotionRefused: Naming the field and what was expected.
    """
    problem = artifact_store_problem(unit.uri)
    if problem:
        raise PromotionRefused(f"{env}: {source}: artifact.uri {problem}")
    try:
        images.split(unit.image, f"{source}: image")
    except images.ImageError as exc:
        raise PromotionRefused(f"{env}: {exc}") from None
    if images.is_placeholder(unit.image):
        raise PromotionRefused(f"{env}: {source}: image has the all-zero digest (no image)")


def from_candidate(cand: Candidate, source: str) -> Unit:
    """The unit for dev: the training candidate and the image built for its commit.

    Raises:
        PromotionRefused: The candidate names no image.
    """
    if not cand.image:
        raise PromotionRefused(
            f"{source}: image is null: training did not record the service image built for "
            f"its commit (set SERVICE_IMAGE for the register stage)"
        )
    return Unit(
        cand.name,
        cand.version,
        cand.uri,
        cand.sha256,
        cand.image,
        dict(cand.provenance),
        dict(cand.metrics),
    )


def from_previous(
    env: str,
    previous_env: str,
    previous: dict[str, Any],
    cand: Candidate,
    registry: ModelRegistry | None,
) -> Unit:
    """The unit for staging or prod: what ``previous_env`` runs, if it ran there successfully.

    Args:
        env: Target environment.
        previous_env: The environment before it in the promotion order.
        previous: ``previous_env``'s manifest on the base branch.
        cand: The candidate whose gate reports are the evidence (it must be the same bundle).
        registry: Where deployments and rollbacks are recorded.

    Raises:
        PromotionRefused: Nothing runs there, another bundle runs there, or it did not run
            there successfully.
    """
    model = previous.get("model")
    if not model:
        raise PromotionRefused(
            f"{env}: nothing runs in {previous_env}; promote {cand.name} {cand.version} "
            f"(sha256 {cand.sha256[:12]}) to {previous_env} first"
        )
    unit = Unit(
        str(model["name"]),
        str(model["version"]),
        str(model["artifact"]["uri"]),
        str(model["artifact"]["sha256"]),
        str(previous["image"]),
        dict(model["provenance"]),
        dict(model["evaluation"]["metrics"]),
    )
    if unit.sha256 != cand.sha256:
        raise PromotionRefused(
            f"{env}: {previous_env} runs {unit.label}, but the candidate's evidence is about "
            f"{cand.name} {cand.version} (sha256 {cand.sha256[:12]}); promote it to "
            f"{previous_env} first"
        )
    if registry is None:
        raise PromotionRefused(
            f"{env}: the model registry is needed to check that {unit.label} ran successfully "
            f"in {previous_env} (set MLFLOW_TRACKING_URI)"
        )
    tags = registry.tags(unit.name, unit.version)
    if tags is None:
        raise PromotionRefused(f"{env}: {unit.label} is not registered")
    why = ran_successfully(tags, previous_env, unit.image)
    if why:
        raise PromotionRefused(f"{env}: {unit.label} {why}; refusing to promote it")
    return unit


def build_manifest(
    env: str, unit: Unit, gate_sha: str, source: str, at: datetime, by: str, reason: str
) -> dict[str, Any]:
    """The manifest that deploys ``unit`` to ``env`` (pure)."""
    doc = empty_manifest(env)
    doc["image"] = unit.image
    doc["model"] = {
        "name": unit.name,
        "version": unit.version,
        "artifact": {"uri": unit.uri, "sha256": unit.sha256},
        "provenance": dict(unit.provenance),
        "evaluation": {
            "metrics": dict(unit.metrics),
            "gate": {"verdict": "pass", "report_sha256": gate_sha},
        },
        "promotion": {
            "from": source,
            "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "by": by,
            "reason": reason,
        },
    }
    return doc
