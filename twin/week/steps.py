"""Run named steps in order, time each, stop at the first failure, print one table.

A step is a function of the scenario context; it returns a short detail line (figures) or
raises. The table is the run's record: each step, pass or fail, its duration and detail.

A step may hand a check that needs nothing from the steps after it (a fresh clone restoring
what the step pushed, say) to :meth:`Record.beside`: it runs in a thread while the next steps
run, and its outcome becomes its own step's. A failed check fails that step and stops the run
at the next step boundary; every check is joined before the table is written.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
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
class Beside:
    """A check running beside the steps that follow the one that started it."""

    step: str
    what: str
    started: float
    thread: threading.Thread | None = None
    seconds: float = 0.0
    error: str | None = None
    detail: str = ""
    applied: bool = False


@dataclass
class Record:
    """Every step's outcome plus named figures (rollback time, MTTD)."""

    outcomes: list[Outcome] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    checks: list[Beside] = field(default_factory=list)
    current: str = ""
    waited: float = 0.0  # after the last step, for checks still running

    @property
    def ok(self) -> bool:
        """Whether every step passed."""
        return all(o.status == "pass" for o in self.outcomes)

    def beside(self, what: str, check: Callable[[], str]) -> None:
        """Run ``check`` in a thread beside the next steps; its outcome is the current step's.

        ``check`` returns a detail (appended to the step's) or raises, like a step. It must use
        only what exists now (a commit by its sha, not ``main``), never what later steps change.
        """
        job = Beside(self.current, what, time.monotonic())

        def run() -> None:
            job.detail, job.error = _attempt(f"{job.step} ({what})", check)
            job.seconds = time.monotonic() - job.started

        job.thread = threading.Thread(target=run, name=f"beside: {what}", daemon=True)
        self.checks.append(job)
        log.info("week: %s: %s runs beside the next steps", job.step, what)
        job.thread.start()

    def settle(self, *, wait: bool, timeout: float = 900.0) -> bool:
        """Apply the finished checks to their steps (all when ``wait``); False if one failed."""
        ok = True
        for job in self.checks:
            if job.applied or job.thread is None:
                continue
            if wait:
                job.thread.join(timeout)
                if job.thread.is_alive():
                    job.error, job.seconds = f"still running after {timeout:.0f} s", timeout
            elif job.thread.is_alive():
                continue
            job.applied = True
            outcome = next(o for o in self.outcomes if o.name == job.step)
            if job.error is None:
                outcome.detail += f"; {job.detail} (beside the next steps, {job.seconds:.1f} s)"
                log.info("week: %s: %s pass in %.1fs", job.step, job.what, job.seconds)
            else:
                outcome.status = "FAIL"
                outcome.detail += f"; {job.what} (beside the next steps) failed: {job.error}"
                log.info(
                    "week: %s: %s FAIL in %.1fs %s", job.step, job.what, job.seconds, job.error
                )
                ok = False
        return ok

    def table(self) -> str:
        """The Markdown table of the run (with the total)."""
        lines = ["| # | step | result | seconds | detail |", "|---|---|---|---|---|"]
        for index, o in enumerate(self.outcomes, 1):
            detail = o.detail.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {index} | {o.name} | {o.status} | {o.seconds:.1f} | {detail} |")
        total = sum(o.seconds for o in self.outcomes) + self.waited
        waited = f"of which {self.waited:.1f} s waiting for checks" if self.waited >= 0.05 else ""
        lines.append(f"|  | total |  | {total:.1f} | {waited} |")
        lines.extend(f"\n{name}: {value}" for name, value in self.figures.items())
        return "\n".join(lines)


def _attempt(name: str, work: Callable[[], str]) -> tuple[str, str | None]:
    """``work``'s detail and no error, or no detail and the error the table names."""
    try:
        return work(), None
    except TwinError as exc:
        return "", str(exc)
    except Exception as exc:  # noqa: BLE001 - the table must name any failure
        log.error("week: %s crashed:\n%s", name, traceback.format_exc())
        return "", f"{type(exc).__name__}: {exc}"


def run_steps(steps: Sequence[Step[Ctx]], ctx: Ctx, record: Record) -> Record:
    """Run ``steps`` in order; after a failure the rest are listed as not run.

    Checks a step left running beside the others are applied at each step boundary (a failed
    one stops the run there) and all joined at the end.
    """
    failed = False
    for step in steps:
        failed = not record.settle(wait=False) or failed
        if failed:
            record.outcomes.append(Outcome(step.name, "not run", 0.0))
            continue
        log.info("week: %s ...", step.name)
        record.current = step.name
        start = time.monotonic()
        detail, error = _attempt(step.name, partial(step.run, ctx))
        failed = error is not None
        status, detail = ("FAIL", str(error)) if failed else ("pass", detail)
        seconds = time.monotonic() - start
        record.outcomes.append(Outcome(step.name, status, seconds, detail))
        log.info("week: %s %s in %.1fs %s", step.name, status, seconds, detail)
    start = time.monotonic()
    record.settle(wait=True)
    record.waited = time.monotonic() - start
    return record
