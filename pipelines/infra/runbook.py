"""Runnable command blocks of a runbook, and the checks that need no cloud or cluster.

A runnable block is a fenced ``bash`` block right after a marker line::

    <!-- runnable: name=db-restore targets=twin,aws env=MLFLOW_BACKUP_URL optional=AWS_REGION -->

``targets`` says where it may run (``twin``: the production twin can execute it; ``aws``: a real
account), ``env`` the variables it needs and ``optional`` those it reads when set. Blocks start
with ``set -euo pipefail`` and use only those variables and their own. A test in the twin
executes the twin blocks; :func:`block_problems` checks every block offline: bash syntax,
variables, ``pipelines`` and ``dvc`` command lines against their own parsers, and ``aws``
command lines against botocore's service models.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import PipelineError

TARGETS = frozenset({"twin", "aws"})
PREAMBLE = "set -euo pipefail"
_MARKER = re.compile(r"^<!--\s*runnable:\s*(.*?)\s*-->\s*$")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_ASSIGNED = re.compile(r"(?:^|[\s;(])(?:local\s+|export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")
_LOOP = re.compile(r"\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b")
_SPECIAL = frozenset({"HOME", "PATH", "PWD"})
_SEPARATOR = re.compile(r"\s(?:&&|\|\||\||;)\s")


@dataclass(frozen=True)
class RunbookBlock:
    """One runnable block: its name, targets, variables and script, and where it is."""

    name: str
    targets: tuple[str, ...]
    env: tuple[str, ...]
    optional: tuple[str, ...]
    script: str
    line: int


def _fields(text: str, where: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split():
        key, sep, value = part.partition("=")
        if not sep or key not in {"name", "targets", "env", "optional"}:
            raise PipelineError(f"{where}: marker field {part!r}: expected name=, targets=, env=")
        fields[key] = value
    if not fields.get("name") or not fields.get("targets"):
        raise PipelineError(f"{where}: a runnable marker needs name= and targets=")
    return fields


def _names(value: str) -> tuple[str, ...]:
    return tuple(item for item in value.split(",") if item)


def runnable_blocks(path: Path) -> list[RunbookBlock]:
    """Every runnable block of the Markdown file ``path``, in order.

    Raises:
        PipelineError: A marker is malformed, not followed by a bash block, names an unknown
            target, or repeats a name (the message names the line).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[RunbookBlock] = []
    for index, line in enumerate(lines):
        found = _MARKER.match(line.strip())
        if not found:
            continue
        where = f"{path.name}:{index + 1}"
        fields = _fields(found.group(1), where)
        targets = _names(fields["targets"])
        if not targets or not set(targets) <= TARGETS:
            raise PipelineError(f"{where}: targets must be among {sorted(TARGETS)}")
        start = index + 1
        if start >= len(lines) or lines[start].strip() != "```bash":
            raise PipelineError(f"{where}: a runnable marker must be followed by ```bash")
        end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise PipelineError(f"{where}: the bash block is not closed")
        indent = len(lines[start]) - len(lines[start].lstrip())
        script = "\n".join(text[indent:] for text in lines[start + 1 : end]) + "\n"
        if any(block.name == fields["name"] for block in blocks):
            raise PipelineError(f"{where}: block name {fields['name']} is used twice")
        blocks.append(
            RunbookBlock(
                fields["name"],
                targets,
                _names(fields.get("env", "")),
                _names(fields.get("optional", "")),
                script,
                start + 2,
            )
        )
    return blocks


def command_lines(script: str, program: str) -> list[list[str]]:
    """Argument lists of every ``program`` invocation (continuations joined, pipes split)."""
    joined = re.sub(r"\\\n\s*", " ", script)
    found: list[list[str]] = []
    for line in joined.splitlines():
        text = line.split(" #", 1)[0].strip()
        for piece in _SEPARATOR.split(f" {text} "):
            try:
                words = shlex.split(piece.strip())
            except ValueError:
                continue
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words.pop(0)
            for prefix in ([program], [f".venv/bin/{program}"], ["python", "-m", program]):
                if words[: len(prefix)] == prefix:
                    found.append(words[len(prefix) :])
    return found


def variable_problems(block: RunbookBlock) -> list[str]:
    """Variables the block reads without declaring them (marker or its own assignment)."""
    known = set(block.env) | set(block.optional) | _SPECIAL
    known |= set(_ASSIGNED.findall(block.script)) | set(_LOOP.findall(block.script))
    used = set(_VARIABLE.findall(block.script))
    return [
        f"{block.name}: ${name} is neither in env= nor set here" for name in sorted(used - known)
    ]


def bash_problems(block: RunbookBlock) -> list[str]:
    """``bash -n`` (syntax) and the preamble."""
    problems = []
    if not block.script.lstrip().startswith(PREAMBLE):
        problems.append(f"{block.name}: must start with `{PREAMBLE}`")
    bash = shutil.which("bash")
    if bash is None:
        return [*problems, f"{block.name}: bash is not installed"]
    proc = subprocess.run(  # noqa: S603 - bash -n only parses the script
        [bash, "-n"], input=block.script, capture_output=True, text=True, check=False, timeout=30
    )
    if proc.returncode != 0:
        problems.append(f"{block.name}: bash -n: {proc.stderr.strip().splitlines()[-1]}")
    return problems
