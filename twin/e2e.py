"""``python -m twin e2e``: the week in the life on a fresh twin, ending with one table.

Brings the twin up from the source tree (uncommitted work included), runs the steps of
``twin.week.plan`` in order, prints the table with each step's result and duration and the
figures (rollback time, MTTD), and takes the twin down again (``--keep`` leaves it running to
look around). Exit status 0 only when every step passed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pipelines.io import atomic
from twin import services, state
from twin.errors import TwinError
from twin.github.client import GitHubTwinClient
from twin.week.context import Week
from twin.week.plan import STEPS
from twin.week.steps import Record, Step, run_steps

# The facts of the week so far (models, pull requests), for ``--reuse --from``.
FACTS = "week-facts.json"


def run_week(
    source: Path,
    home: Path,
    *,
    only: list[str] | None,
    keep: bool,
    reuse: bool = False,
    start: str | None = None,
) -> Record:
    """Up, the steps (all, or the first ones up to each name in ``only``), down.

    ``reuse`` runs on an already running twin (from ``start`` on), for a person iterating.
    """
    record = Record()
    began = time.monotonic()
    if not reuse:
        services.up(source, home)
        record.figures["twin up"] = f"{time.monotonic() - began:.1f} s"
    try:
        week = Week(home, source, GitHubTwinClient.from_home(home), record)
        facts = home / FACTS
        if reuse and facts.exists():
            week.facts.update(json.loads(facts.read_text(encoding="utf-8")))
        steps = STEPS if not only else [s for s in STEPS if s.name in _upto(only)]
        steps = [_saving(s, facts) for s in steps]
        if start is not None:
            names = [s.name for s in steps]
            if start not in names:
                raise TwinError(f"e2e --from: unknown step {start!r}")
            steps = steps[names.index(start) :]
        run_steps(steps, week, record)
    finally:
        if not keep and not reuse:
            services.down(home, quiet=True)
    return record


def _saving(step: Step[Week], path: Path) -> Step[Week]:
    """``step``, then the week's facts saved (``--reuse --from`` carries on from them)."""

    def run(week: Week) -> str:
        detail = step.run(week)
        atomic.write_json(path, week.facts)
        return detail

    return Step(step.name, run)


def _upto(names: list[str]) -> set[str]:
    known = [s.name for s in STEPS]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise TwinError(f"e2e --until: unknown step {unknown[0]!r} (steps: {', '.join(known)})")
    last = max(known.index(n) for n in names)
    return set(known[: last + 1])


def _e2e(args: argparse.Namespace) -> int:
    source = Path(args.source).resolve()
    home = state.default_home(source) if args.home is None else Path(args.home).resolve()
    record = run_week(
        source, home, only=args.until, keep=args.keep, reuse=args.reuse, start=args.start
    )
    sys.stdout.write("\n## The week in the life (production twin)\n\n" + record.table() + "\n")
    return 0 if record.ok else 1


def register(commands: Any) -> None:
    """Add ``e2e``."""
    parser = commands.add_parser(
        "e2e", help="the week in the life on a fresh production twin (what CI runs)"
    )
    parser.add_argument("--source", default=".", help="source tree to seed the twin from")
    parser.add_argument("--home", default=None, help="twin home (default: $TWIN_HOME or .twin)")
    parser.add_argument(
        "--until", action="append", help="run the steps up to this one only (repeatable)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the twin running afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="run on the twin already running (no up, no down)"
    )
    parser.add_argument("--from", dest="start", help="with --reuse: start at this step")
    parser.set_defaults(handler=_e2e)
