"""The Docker actions over the twin's registry (GHCR is GitHub's, so it is faked with it).

``docker/build-push-action`` calls ``twin.registry.build(context_dir, dockerfile, target)``
(written by the cluster side of the twin) and returns its digest; pushing needs a prior
``docker/login-action`` to the tags' registry with a token holding ``packages: write``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from twin.github.actions_table import ActionCall, ActionFailed

DEFAULT_REGISTRY = "docker.io"


def _logins(call: ActionCall) -> dict[str, str]:
    return call.job.registry_logins


def setup_buildx(call: ActionCall) -> None:
    """Record a builder (the twin builds with ``twin.registry``)."""
    call.log("Using the twin's registry builder (twin.registry.build)")
    call.outputs.update(
        {"name": "twin-builder", "driver": "twin", "platforms": "linux/amd64", "nodes": "[]"}
    )


def login(call: ActionCall) -> None:
    """Log in to a registry; for ``ghcr.io`` the password must be a live twin token."""
    registry = call.input("registry", DEFAULT_REGISTRY)
    username, password = call.input("username"), call.input("password")
    if not username or not password:
        raise ActionFailed("Username and password required")
    call.job.add_mask(password)
    if registry == "ghcr.io" and call.job.twin.tokens.get(password) is None:
        raise ActionFailed('Error response from daemon: Get "https://ghcr.io/v2/": denied: denied')
    _logins(call)[registry] = password
    call.log(f"Login Succeeded ({registry} as {username})")


def _registry_of(tag: str) -> str:
    first = tag.split("/", 1)[0]
    return (
        first
        if "/" in tag and ("." in first or ":" in first or first == "localhost")
        else DEFAULT_REGISTRY
    )


def _check_push(call: ActionCall, tags: list[str]) -> None:
    if not tags:
        raise ActionFailed("push: true needs at least one tag (or an outputs: type=image,name=...)")
    for tag in tags:
        registry = _registry_of(tag)
        secret = _logins(call).get(registry)
        if secret is None:
            raise ActionFailed(
                f"failed to push {tag}: unauthorized "
                f"(no docker/login-action to {registry} in this job)"
            )
        token = call.job.twin.tokens.get(secret)
        if registry == "ghcr.io" and (token is None or not token.can("packages", "write")):
            raise ActionFailed(
                f"failed to push {tag}: denied: "
                "installation not allowed to Write organization package"
            )


def _outputs_spec(text: str) -> tuple[list[str], bool]:
    """Image names and whether to push, from ``outputs: type=image,name=...,push=true``."""
    names: list[str] = []
    push = False
    for line in text.splitlines():
        fields = dict(part.strip().split("=", 1) for part in line.split(",") if "=" in part)
        kind = fields.get("type")
        if kind is None:
            continue
        if kind not in ("image", "registry"):
            raise ActionFailed(
                f"docker/build-push-action: outputs type={kind} is not supported by the twin"
            )
        if fields.get("name"):
            names.append(fields["name"])
        push = push or kind == "registry" or fields.get("push", "false").lower() == "true"
    return names, push


def build_push(call: ActionCall) -> None:
    """Build the context with ``twin.registry.build`` and report the digest."""
    workspace = call.job.workspace
    context = (workspace / call.input("context", ".")).resolve()
    dockerfile = (workspace / call.input("file")) if call.input("file") else context / "Dockerfile"
    target = call.input("target") or None
    tags = [t.strip() for t in call.input("tags").replace(",", "\n").splitlines() if t.strip()]
    names, pushed_by_outputs = _outputs_spec(call.input("outputs"))
    tags += names
    push = call.flag("push", False) or pushed_by_outputs
    if push:
        _check_push(call, tags)
    try:
        registry: Any = importlib.import_module("twin.registry")
    except ModuleNotFoundError:
        raise ActionFailed(
            "docker/build-push-action: twin.registry is not available (the twin's registry module)"
        ) from None
    if not hasattr(registry, "build"):
        raise ActionFailed(
            "docker/build-push-action: twin.registry has no build(context_dir, dockerfile, target)"
        )
    if not Path(dockerfile).is_file():
        raise ActionFailed(
            f"failed to read dockerfile: open {dockerfile}: no such file or directory"
        )
    try:
        digest = str(registry.build(context, Path(dockerfile), target))
    except Exception as exc:  # noqa: BLE001 - the registry's own error is the step's message
        raise ActionFailed(f"docker/build-push-action: build failed: {exc}") from None
    if push:
        for tag in tags:
            registry.push(tag, digest)
    call.log(
        f"Built {context} (target {target or 'default'}) -> {digest}"
        + (f" and pushed {', '.join(tags)}" if push else "")
    )
    metadata = {"containerimage.digest": digest, "image.name": ",".join(tags)}
    call.outputs.update({"digest": digest, "imageid": digest, "metadata": json.dumps(metadata)})
