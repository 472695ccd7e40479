"""Helpers of the infrastructure tests."""

from __future__ import annotations

import subprocess

from tests.conftest import require_tool


def psql(url: str, command: str) -> str:
    """One SQL command through psql; its unaligned output."""
    return subprocess.run(
        [require_tool("psql"), f"--dbname={url}", "--tuples-only", "--no-align", "-c", command],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
