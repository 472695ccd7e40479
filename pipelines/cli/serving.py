"""Sub-commands of the serving area: ``pipelines serve``, ``analyze`` and ``rehearse``."""

from __future__ import annotations

import argparse
from typing import Any

from pipelines.config import load_params


def _serve(args: argparse.Namespace) -> int:
    from pipelines.serving import serve

    return serve.main(load_params(args.params), args.manifest, args.settings, args.host, args.port)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``serve``, ``analyze`` and ``rehearse`` to the top-level parser."""
    serve = commands.add_parser(
        "serve", help="run the strategy service for the model a manifest names"
    )
    serve.add_argument("--manifest", required=True, help="environments/<env>/model.yaml")
    serve.add_argument(
        "--settings", default=None, help="environments/<env>/settings.yaml (default: beside it)"
    )
    serve.add_argument("--host", default=None, help="listen address (default: serving.host)")
    serve.add_argument("--port", type=int, default=None, help="port (default: serving.port)")
    serve.set_defaults(handler=_serve)
