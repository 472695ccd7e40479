"""Sub-commands of the delivery area."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add this area's sub-commands to the top-level parser."""
