"""Service image references: the image is promoted with the model, always by digest.

A manifest's ``image`` is ``<repository>@sha256:<64 hex>``. A manifest that deploys nothing
carries the all-zero digest (:data:`ZERO_DIGEST`), which no registry serves.
"""

from __future__ import annotations

import re

from pipelines.errors import PipelineError

DEFAULT_REPOSITORY = "ghcr.io/trading-pipelines/strategy-service"
ZERO_DIGEST = "sha256:" + "0" * 64
_REPOSITORY = r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+"
BY_DIGEST = re.compile(rf"^(?P<repository>{_REPOSITORY})@(?P<digest>sha256:[0-9a-f]{{64}})$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ImageError(PipelineError):
    """An image reference is not ``<repository>@sha256:<64 hex>``."""


def placeholder(repository: str = DEFAULT_REPOSITORY) -> str:
    """The image of a manifest that deploys nothing."""
    return f"{repository}@{ZERO_DIGEST}"


def split(reference: str, source: str = "image") -> tuple[str, str]:
    """``(repository, digest)`` of a reference by digest.

    Raises:
        ImageError: A tag, no digest, or a malformed digest.
    """
    match = BY_DIGEST.match(reference)
    if match is None:
        raise ImageError(
            f"{source}: {reference!r} is not an image by digest "
            "(expected <registry>/<name>@sha256:<64 lowercase hex>)"
        )
    return match["repository"], match["digest"]


def is_placeholder(reference: str) -> bool:
    """Whether the reference carries the all-zero digest (nothing deployed)."""
    return reference.endswith("@" + ZERO_DIGEST)


def normalise(value: str, repository: str = DEFAULT_REPOSITORY, source: str = "image") -> str:
    """A full reference from either a full reference or a bare ``sha256:<hex>`` digest.

    Raises:
        ImageError: Neither form, or the all-zero digest.
    """
    text = value.strip()
    reference = f"{repository}@{text}" if DIGEST.match(text) else text
    split(reference, source)
    if is_placeholder(reference):
        raise ImageError(f"{source}: the all-zero digest names no image")
    return reference
