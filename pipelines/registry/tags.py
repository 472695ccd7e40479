"""MLflow tag names shared by registration, promotion, deployment and rollback (one place).

Every model version that ``pipelines register`` creates carries :data:`DIGEST_TAG` (the sha256 of
its bundle: the digest manifests, the service and rollback compare). Deployments record their
outcome on the version they deployed, per environment, so that promotion can ask whether a
version ran *successfully* in the environment before the target:

- ``deployed.<env>``: UTC time the deploy workflow finished with the Rollout healthy;
- ``deployed.<env>.image``: the service image (by digest) that ran it;
- ``rolled_back.<env>``: UTC time a rollback took the version out of ``<env>``.
"""

from __future__ import annotations

from datetime import UTC, datetime

DIGEST_TAG = "bundle_sha256"
RUN_ID_TAG = "mlflow_run_id"
ARTIFACT_URI_TAG = "bundle_uri"
GIT_COMMIT_TAG = "git_commit"
DATA_HASH_TAG = "data_sha256"


def deployed_tag(env: str) -> str:
    """Tag holding when ``env`` last finished deploying the version."""
    return f"deployed.{env}"


def deployed_image_tag(env: str) -> str:
    """Tag holding the image that ran the version in ``env``."""
    return f"deployed.{env}.image"


def rolled_back_tag(env: str) -> str:
    """Tag holding when the version was last rolled back out of ``env``."""
    return f"rolled_back.{env}"


def timestamp(at: datetime | None = None) -> str:
    """A tag value for a point in time (UTC ISO 8601, microseconds, ``Z``; sorts as time)."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ran_successfully(tags: dict[str, str], env: str, image: str | None = None) -> str | None:
    """Why the version did NOT run successfully in ``env``; None when it did (pure).

    Success means a finished deployment in ``env`` that no later rollback undid, with the same
    image when ``image`` is given.
    """
    deployed = tags.get(deployed_tag(env))
    if not deployed:
        return f"never finished deploying in {env} (no {deployed_tag(env)} tag)"
    rolled_back = tags.get(rolled_back_tag(env))
    # ISO 8601 UTC strings of one format compare in time order.
    if rolled_back and rolled_back >= deployed:
        return f"was rolled back out of {env} at {rolled_back} (deployed {deployed})"
    ran_image = tags.get(deployed_image_tag(env))
    if image is not None and ran_image != image:
        return f"ran in {env} with image {ran_image or 'unknown'}, not {image}"
    return None
