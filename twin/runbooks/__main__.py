"""``python -m twin.runbooks``: run the docs' marked command blocks against a platform (the twin).

Examples::

    python -m twin.runbooks --list                       # every block, its needs, runnable?
    python -m twin.runbooks --workdir .                  # what the repository alone can run
    python -m twin.runbooks --twin-home .twin --workdir CHECKOUT --kubectl-dir twin/cluster/shims

Exit status 0 when every block that ran passed, 1 when one failed, 2 on a malformed marker.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from twin.runbooks.extract import CAPABILITIES, MarkerError, docs_blocks
from twin.runbooks.run import build_env, capabilities, run_all, table, twin_env

ROOT = Path(__file__).resolve().parents[2]


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m twin.runbooks", description=__doc__)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="docs folder")
    parser.add_argument(
        "--workdir", type=Path, default=Path.cwd(), help="where the commands run (a checkout)"
    )
    parser.add_argument(
        "--twin-home",
        type=Path,
        default=Path(os.environ["TWIN_HOME"]) if os.environ.get("TWIN_HOME") else None,
        help="twin state folder whose client environment is used (default: $TWIN_HOME)",
    )
    default_shims = ROOT / "twin" / "cluster" / "shims"
    parser.add_argument(
        "--kubectl-dir",
        type=Path,
        default=default_shims if (default_shims / "kubectl").exists() else None,
        help="folder with the kubectl to use, put first on PATH (default: the twin's shims)",
    )
    parser.add_argument(
        "--have",
        default="",
        help=f"extra capabilities to assume, comma-separated ({', '.join(CAPABILITIES)})",
    )
    parser.add_argument("--changes", action="store_true", help="also run blocks that change state")
    parser.add_argument("--only", default="", help="run only blocks whose path contains this")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per block")
    parser.add_argument("--json", type=Path, default=None, help="write the outcomes as JSON")
    parser.add_argument("--list", action="store_true", help="list the blocks and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run (or list) the blocks; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        found = docs_blocks(args.docs, args.docs.parent)
    except MarkerError as exc:
        sys.stderr.write(f"runbooks: error: {exc}\n")
        return 2
    found = [b for b in found if args.only in b.where]
    if args.list:
        for b in found:
            how = f"manual: {b.reason}" if not b.runnable else f"needs {','.join(sorted(b.needs))}"
            flag = " changes" if b.changes else ""
            sys.stdout.write(f"{b.where}\t{how}{flag}\t{b.script.splitlines()[0]}\n")
        return 0
    env = build_env(os.environ, twin_env(args.twin_home), args.kubectl_dir)
    extra = [c for c in args.have.split(",") if c]
    unknown = set(extra) - set(CAPABILITIES)
    if unknown:
        sys.stderr.write(f"runbooks: error: --have: unknown capability {sorted(unknown)[0]!r}\n")
        return 2
    workdir = args.workdir.resolve()
    have = capabilities(env, workdir, extra)
    sys.stderr.write(f"capabilities: {', '.join(sorted(have))}\n")
    outcomes = run_all(found, env, workdir, have, args.changes, args.timeout)
    sys.stdout.write(table(outcomes) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
    return 1 if any(o.status == "FAIL" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
