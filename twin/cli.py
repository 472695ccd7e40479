"""``python -m twin ...``: each area of the twin registers its own sub-commands here.

Areas: ``twin.services`` (up, down, status), ``twin.github.server`` (the fake GitHub and the
workflow runner), ``twin.cluster.server`` (the fake cluster: Argo, Rollouts, pods), and
``twin.e2e`` (the week-in-the-life run). Each exposes ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from twin.errors import TwinError

AREAS = (
    "twin.services",
    "twin.github.server",
    "twin.github.sync",
    "twin.cluster.server",
    "twin.e2e",
)

_NO_TELEMETRY = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
}


def build_parser() -> argparse.ArgumentParser:
    """The twin's parser, with every area's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="python -m twin",
        description="The production twin: the platform's cluster-and-cloud shape on one machine.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for area in AREAS:
        try:
            module = importlib.import_module(area)
        except ModuleNotFoundError as exc:
            if exc.name != area:
                raise
            continue  # an area not built yet
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one twin command; a TwinError ends in one line and exit status 1."""
    for key, value in _NO_TELEMETRY.items():
        os.environ.setdefault(key, value)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # One line per HTTP request (the waits long-poll) would bury the twin's own messages.
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(args.handler(args))
    except TwinError as exc:
        sys.stderr.write(f"twin: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("twin: interrupted\n")
        return 130
