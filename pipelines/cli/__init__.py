"""The one command-line entry: ``pipelines ...`` / ``python -m pipelines ...``.

Argument parsing lives in this package only. Each area registers its sub-commands from its own
module here (``cli/data.py``, ``cli/training.py``, ...); the handlers they call live in the
area's package and take typed arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from pipelines import __version__
from pipelines.cli import (
    data,
    delivery,
    deploy,
    doctor,
    monitoring,
    recovery,
    serving,
    training,
)
from pipelines.errors import PipelineError

Handler = Callable[[argparse.Namespace], int]

_REGISTRARS = (data, training, delivery, deploy, serving, monitoring, doctor, recovery)

# Nothing this project runs may phone home.
_NO_TELEMETRY = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser (used by ``main`` and by tests that check commands)."""
    parser = argparse.ArgumentParser(
        prog="pipelines",
        description=(
            "Run a trading model's life cycle: data, training, gates, promotion, delivery and "
            "monitoring. Every stage of dvc.yaml is one of these commands."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _REGISTRARS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the chosen command and turn known errors into one line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit status.
    """
    for key, value in _NO_TELEMETRY.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except PipelineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
