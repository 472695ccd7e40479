"""Shared test helpers: the repository root, tool lookup that fails in CI, no telemetry."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def require_tool(name: str, env_var: str | None = None) -> str:
    """Return the path of an external tool; skip locally when missing, fail under CI=true.

    Args:
        name: Executable name looked up on PATH.
        env_var: Environment variable that may hold an explicit path (checked first).
    """
    explicit = os.environ.get(env_var) if env_var else None
    found = explicit if explicit and Path(explicit).exists() else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (make tools installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository (CI has it)."""
    return SHARED
