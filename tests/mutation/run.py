"""Mutation testing of the modules that move money (``make mutation``; slow, not in CI).

Each module is mutated by mutmut 2.5.1 (side venv ``.tools/mutmut``, run by its Python) in a
throw-away copy of the work tree, against only the tests that cover it, one module at a time.
The tests run in the project's venv through a warm pytest (:mod:`forkserver`: the heavy
libraries are imported once, each run is a forked child), mutmut's ``--runner``. The table
printed at the end has, per module: mutants, killed (timeouts count as killed), survived,
text-only (excluded) and the score ``killed / (mutants - text-only)``; each surviving mutant
that counts is printed as a diff.

Text-only rule: a mutant is excluded, killed or not, when the only tokens it changes are string
literals whose text outside f-string fields is prose, i.e. holds a space next to a letter:
error and log messages, reasons, PR and commit text. Keys, names, statuses, comparators, paths,
refs and separators have no such space and stay counted.

Each pytest run is ended after ``MUTATION_RUN_LIMIT`` seconds (120; see :mod:`forkserver`): on
a machine busy with other work the unmutated baseline can take longer, and mutmut then stops
with "Tests don't run cleanly without mutations"; raise the limit there.

Usage (from the repository root)::

    .tools/mutmut/bin/python tests/mutation/run.py [--only metrics,gates] [--keep]
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORKSERVER = "tests/mutation/forkserver.py"


@dataclass(frozen=True)
class Target:
    """A module, the tests that cover it and the score it must reach."""

    module: str
    tests: tuple[str, ...]
    minimum: float


TARGETS = (
    Target(
        "pipelines/training/metrics.py",
        ("tests/training/test_metrics.py", "tests/training/test_metrics_reference.py"),
        0.95,
    ),
    Target(
        "pipelines/training/gates.py",
        ("tests/training/test_gates.py", "tests/training/test_gates_boundaries.py"),
        0.95,
    ),
    Target(
        "pipelines/training/splits.py",
        ("tests/training/test_splits.py", "tests/training/test_splits_coverage.py"),
        0.95,
    ),
    Target(
        "pipelines/monitoring/drift.py",
        ("tests/monitoring/test_drift.py", "tests/monitoring/test_drift_thresholds.py"),
        0.90,
    ),
    Target(
        "pipelines/delivery/promote.py",
        ("tests/delivery/test_promote_flow.py", "tests/delivery/test_promote_paths.py"),
        0.90,
    ),
)
KILLED = {"ok_killed", "bad_timeout", "ok_suspicious"}
PROSE = re.compile(r"[A-Za-z] | [A-Za-z]")
FIELD = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class Hunk:
    """The source a mutant changes: first line number, original text, mutated text."""

    line_number: int
    original: str
    mutated: str


@dataclass
class Outcome:
    """What happened to one module's mutants."""

    target: Target
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    text_only: int = 0
    other: int = 0

    @property
    def counted(self) -> int:
        """Mutants in the score's denominator."""
        return self.killed + len(self.survived) + self.other

    @property
    def score(self) -> float:
        """Share of counted mutants that the tests killed."""
        return self.killed / self.counted if self.counted else 1.0


def _strings(line: str) -> list[tuple[int, str]] | None:
    """(type, text) of the tokens of one source line; None when it does not tokenize alone."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return [(t.type, t.string) for t in tokens if t.type not in (tokenize.NL, tokenize.NEWLINE)]


def _is_prose(literal: str) -> bool:
    body = literal.lstrip("rbfuRBFU")
    return bool(PROSE.search(FIELD.sub("", body)))


def is_text_only(original: str, mutated: str) -> bool:
    """True when the mutation changes only prose string literals (the documented rule)."""
    before, after = _strings(original), _strings(mutated)
    if before is None or after is None or len(before) != len(after):
        return False
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    return bool(changed) and all(
        a[0] == b[0] == tokenize.STRING
        and FIELD.findall(a[1]) == FIELD.findall(b[1])  # a changed f-string field is code
        and _is_prose(a[1])
        for a, b in changed
    )


def copy_tree(dest: Path) -> None:
    """Copy the work tree's files (tracked and new, not ignored) into ``dest``."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = REPO / raw.decode()
        if source.is_file():
            target = dest / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def mutated_hunk(filename: str, line: str, index: int, line_number: int, source: str) -> Hunk:
    """What mutant ``index`` of ``line`` changes, by mutmut's own engine.

    Compared on the whole source: a mutant of a multi-line node (``X = None`` for a tuple over
    six lines) or of a decorator changes the number of lines.
    """
    from mutmut import Context, RelativeMutationID, mutate

    mutation = RelativeMutationID(line, index, line_number, filename)
    context = Context(source=source, mutation_id=mutation, filename=filename)
    text, _ = mutate(context)
    before, after = source.split("\n"), text.split("\n")
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    changed = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    if not changed:
        return Hunk(line_number + 1, line, line)
    first, last = changed[0], changed[-1]
    return Hunk(
        first[1] + 1, "\n".join(before[first[1] : last[2]]), "\n".join(after[first[3] : last[4]])
    )


def start_forkserver(work: Path, python: Path) -> tuple[subprocess.Popen[str], Path]:
    """Start the warm pytest of :mod:`forkserver` in ``work``; return it and its socket."""
    sock = work / ".forkserver.sock"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env |= dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1")
    server = subprocess.Popen(
        [str(python), str(work / FORKSERVER), "serve", str(sock), str(work)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    if server.stdout.readline().strip() != "ready":
        server.kill()
        raise SystemExit(f"{FORKSERVER}: the warm pytest did not start")
    return server, sock


def run_target(target: Target, work: Path, python: Path, mutmut: Path) -> Outcome:
    """Run mutmut on one module in ``work`` and classify its mutants."""
    server, sock = start_forkserver(work, python)
    runner = shlex.join([sys.executable, str(work / FORKSERVER), "run", str(sock), *target.tests])
    cache = work / ".mutmut-cache"
    command = [
        str(mutmut),
        "run",
        "--paths-to-mutate",
        target.module,
        "--tests-dir",
        "tests",
        "--runner",
        runner,
        "--no-progress",
        "--simple-output",
    ]
    try:
        done = subprocess.run(command, cwd=work, capture_output=True, text=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if not cache.exists() or done.returncode & 1:
        raise SystemExit(f"{target.module}: mutmut failed:\n{done.stdout}\n{done.stderr}")
    return classify(target, work, cache)


def classify(target: Target, work: Path, cache: Path) -> Outcome:
    """Count killed, survived and text-only mutants from mutmut's cache."""
    source = (work / target.module).read_text(encoding="utf-8")
    query = (
        'SELECT m.id, m.status, l.line, l.line_number, m."index" FROM Mutant m '
        "JOIN Line l ON m.line = l.id JOIN SourceFile s ON l.sourcefile = s.id "
        'WHERE s.filename = ? ORDER BY l.line_number, m."index"'
    )
    with sqlite3.connect(cache) as db:
        rows = db.execute(query, (target.module,)).fetchall()
    outcome = Outcome(target)
    cwd = Path.cwd()
    os.chdir(work)
    try:
        for _, status, line, line_number, index in rows:
            try:
                hunk = mutated_hunk(target.module, line, index, line_number, source)
            except Exception as exc:  # noqa: BLE001 - one odd mutant must not lose the run
                hunk = Hunk(line_number + 1, line, f"(not shown: {exc!r})")
            if is_text_only(hunk.original, hunk.mutated):
                outcome.text_only += 1
            elif status in KILLED:
                outcome.killed += 1
            elif status == "bad_survived":
                outcome.survived.append(
                    f"{target.module}:{hunk.line_number}\n  - {hunk.original.strip()}\n"
                    f"  + {hunk.mutated.strip()}"
                )
            else:
                outcome.other += 1  # untested or skipped: counted against the score
    finally:
        os.chdir(cwd)
    return outcome


def table(outcomes: list[Outcome]) -> str:
    """The summary table."""
    rows = ["| module | mutants | killed | survived | text-only (excluded) | score |"]
    rows.append("|---|---:|---:|---:|---:|---:|")
    for o in outcomes:
        total = o.counted + o.text_only
        name = o.target.module.removeprefix("pipelines/")
        rows.append(
            f"| {name} | {total} | {o.killed} | {len(o.survived)} | {o.text_only} | {o.score:.1%} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every (or the chosen) module and print the table; non-zero below a minimum."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated module stems, e.g. gates")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--mutmut", default=str(Path(sys.executable).parent / "mutmut"))
    parser.add_argument("--keep", action="store_true", help="keep the work copies")
    args = parser.parse_args(argv)
    wanted = {s for s in args.only.split(",") if s}
    targets = [t for t in TARGETS if not wanted or Path(t.module).stem in wanted]
    if not targets:
        parser.error(f"--only {args.only}: no such module")
    outcomes = []
    for target in targets:
        work = Path(tempfile.mkdtemp(prefix="mutation-"))
        try:
            copy_tree(work)
            sys.stdout.write(f"{target.module}: mutating against {', '.join(target.tests)}\n")
            sys.stdout.flush()
            outcome = run_target(target, work, Path(args.python), Path(args.mutmut))
            outcomes.append(outcome)
            # Each module's row as soon as it is known: a long run stopped early keeps them.
            sys.stdout.write(table([outcome]).splitlines()[-1] + "\n")
            sys.stdout.writelines(f"  survived: {s}\n" for s in outcome.survived)
            sys.stdout.flush()
        finally:
            if args.keep:
                sys.stdout.write(f"  work copy kept in {work}\n")
            else:
                shutil.rmtree(work, ignore_errors=True)
    survivors = [s for o in outcomes for s in o.survived]
    if survivors:
        sys.stdout.write("\nSurviving mutants (counted):\n" + "\n".join(survivors) + "\n")
    sys.stdout.write("\n" + table(outcomes))
    low = [o for o in outcomes if o.score < o.target.minimum]
    for o in low:
        sys.stdout.write(f"{o.target.module}: {o.score:.1%} is below {o.target.minimum:.0%}\n")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
