"""Run named steps in order, time each, stop at the first failure, print one table.

A step is a function of the scenario context; it returns a short detail line (figures) or
raises. The table is the run's record: each step, pass or fail, its duration and detail.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from twin.errors import TwinError

log = logging.getLogger(__name__)

Ctx = TypeVar("Ctx")


@dataclass(frozen=True)
class Step(Generic[Ctx]):
    """One line of the week: a name and what it does."""

    name: str
    run: Callable[[Ctx], str]


@dataclass
class Outcome:
    """How a step went."""

    name: str
    status: str  # pass | FAIL | not run
    seconds: float
    detail: str = ""


@dataclass
class Record:
    """Every step's outcome plus named figures (rollback time, MTTD)."""

    outcomes: list[Outcome] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every step passed."""
        return all(o.status == "pass" for o in self.outcomes)

    def table(self) -> str:
        """The Markdown table of the run (with the total)."""
        lines = ["| # | step | result | seconds | detail |", "|---|---|---|---|---|"]
        for index, o in enumerate(self.outcomes, 1):
            detail = o.detail.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {index} | {o.name} | {o.status} | {o.seconds:.1f} | {detail} |")
        total = sum(o.seconds for o in self.outcomes)
        lines.append(f"|  | total |  | {total:.1f} |  |")
        lines.extend(f"\n{name}: {value}" for name, value in self.figures.items())
        return "\n".join(lines)


def run_steps(steps: Sequence[Step[Ctx]], ctx: Ctx, record: Record) -> Record:
    """Run ``steps`` in order; after a failure the rest are listed as not run."""
    failed = False
    for step in steps:
        if failed:
            record.outcomes.append(Outcome(step.name, "not run", 0.0))
            continue
        log.info("week: %s ...", step.name)
        start = time.monotonic()
        try:
            detail = step.run(ctx)
            status = "pass"
        except TwinError as exc:
            detail, status, failed = str(exc), "FAIL", True
        except Exception as exc:  # noqa: BLE001 - the table must name any failure
            detail = f"{type(exc).__name__}: {exc}"
            log.error("week: %s crashed:\n%s", step.name, traceback.format_exc())
            status, failed = "FAIL", True
        seconds = time.monotonic() - start
        record.outcomes.append(Outcome(step.name, status, seconds, detail))
        log.info("week: %s %s in %.1fs %s", step.name, status, seconds, detail)
    return record
