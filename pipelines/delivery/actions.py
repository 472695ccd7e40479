"""GitHub Actions step outputs (``$GITHUB_OUTPUT``) for the commands the workflows call.

A later step reads them as ``steps.<id>.outputs.<name>`` (for example to record a deployment
event with the model version). Outside Actions (no ``GITHUB_OUTPUT``) nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pipelines.errors import PipelineError
from pipelines.io import atomic


def render_outputs(values: Mapping[str, str]) -> str:
    """``name=value`` lines (pure).

    Raises:
        PipelineError: A name or value holds a newline or ``=`` in the name (not one line).
    """
    lines = []
    for name, value in values.items():
        if not name or "=" in name or "\n" in name or "\n" in value or "\r" in value:
            raise PipelineError(f"step output {name!r}: expected one line, got {value!r}")
        lines.append(f"{name}={value}\n")
    return "".join(lines)


def set_outputs(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> None:
    """Append ``values`` to the step's output file, when running in GitHub Actions."""
    target = (os.environ if environ is None else environ).get("GITHUB_OUTPUT")
    if not target:
        return
    path = Path(target)
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    atomic.write_text(path, before + render_outputs(values))
