"""Every command the docs tell a person to run is a real command.

Commands are the lines of fenced ``bash``/``sh``/``shell``/``console`` blocks and inline code
spans that start with a known program. ``pipelines`` commands are parsed by the real CLI parser
(``pipelines.cli.build_parser``), make targets are checked against the Makefile, and ``dvc``,
``git``, ``kubectl``, ``promtool`` and ``amtool`` sub-commands against known lists. Outside the
runbooks and playbooks any other program fails the test: the list below is the whole vocabulary
of those docs. The runbooks' and playbooks' blocks are executed for real
(``tests/docs/test_runbook_run.py``, and against the twin by ``python -m twin.runbooks``), so
there only the lines of known programs are checked here (shell glue such as ``trap`` or ``for``
is left to the execution); their manual blocks are checked too.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from pipelines.cli import build_parser
from tests.conftest import REPO_ROOT

DOCS = sorted((REPO_ROOT / "docs").rglob("*.md"))
FENCE = re.compile(r"^```(\w*)\s*$")
INLINE = re.compile(r"`([^`\n]+)`")
INLINE_PROGRAMS = ("pipelines ", "python -m pipelines", "make ", "dvc ", "git ", "kubectl ")
SHELL_LANGS = {"bash", "sh", "shell", "console"}
RUNNABLE = "<!-- runnable:"
EXECUTED = ("docs/runbooks/", "docs/playbooks/")
KNOWN = {"pipelines", "python", "make", "dvc", "git", "kubectl", "promtool", "amtool"}

DVC = {
    "add",
    "checkout",
    "commit",
    "dag",
    "data",
    "diff",
    "doctor",
    "exp",
    "fetch",
    "gc",
    "get",
    "import",
    "init",
    "ls",
    "metrics",
    "params",
    "plots",
    "pull",
    "push",
    "remote",
    "remove",
    "repro",
    "stage",
    "status",
    "unprotect",
    "update",
    "version",
}
GIT = {
    "add",
    "blame",
    "branch",
    "checkout",
    "cherry-pick",
    "clone",
    "commit",
    "diff",
    "fetch",
    "log",
    "merge",
    "pull",
    "push",
    "reset",
    "restore",
    "rev-parse",
    "revert",
    "show",
    "stash",
    "status",
    "switch",
    "tag",
}
KUBECTL = {
    "apply",
    "auth",
    "config",
    "delete",
    "describe",
    "events",
    "exec",
    "get",
    "kustomize",
    "logs",
    "patch",
    "port-forward",
    "rollout",
    "scale",
    "top",
}
ARGO_ROLLOUTS = {
    "abort",
    "get",
    "lint",
    "list",
    "pause",
    "promote",
    "restart",
    "retry",
    "set",
    "status",
    "undo",
}
PROMTOOL = {"check", "query", "test"}
GH = {"workflow"}
AMTOOL = {"alert", "check-config", "config", "silence"}
PLAIN = {"cd", "curl", "ls", "cat", "jq"}


def _make_targets() -> set[str]:
    """Targets, and ``NAME=`` for every variable the Makefile assigns."""
    text = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, flags=re.M))
    variables = re.findall(r"^([A-Z_][A-Z0-9_]*)\s*(?:\?=|:=|=)", text, flags=re.M)
    return targets | {f"{name}=" for name in variables}


def extract(path: Path, root: Path = REPO_ROOT) -> list[tuple[str, str]]:
    """``(location, command)`` for every command in one Markdown file."""
    out: list[tuple[str, str]] = []
    lang: str | None = None
    pending = ""
    previous = ""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        where = f"{path.relative_to(root)}:{number}"
        stripped = line.strip()
        fence = FENCE.match(stripped)
        if fence:
            # A runnable block is a whole script (tests/infra/test_runbook.py checks it).
            runnable = lang is None and previous.startswith(RUNNABLE)
            lang = None if lang is not None else ("runnable" if runnable else fence.group(1))
            previous = stripped
            continue
        previous = stripped or previous
        if lang is not None:
            if lang in SHELL_LANGS and stripped and not stripped.startswith("#"):
                text = pending + stripped.removeprefix("$ ")
                if text.endswith("\\"):
                    pending = text[:-1].rstrip() + " "
                    continue
                pending = ""
                out.append((where, text))
            continue
        for span in INLINE.findall(line):
            if span.startswith(INLINE_PROGRAMS):
                out.append((where, span))
    return out


def _segments(command: str) -> list[list[str]]:
    words = shlex.split(command, comments=True)
    segments, current = [], []
    for word in words:
        if word in {"&&", "||", ";", "|", "&"}:
            segments.append(current)
            current = []
        else:
            current.append(word)
    segments.append(current)
    return [s for s in segments if s]


def _check_pipelines(args: list[str]) -> str | None:
    # A shell variable stands for a value the runner provides ("$port"): any value will do.
    args = ["1" if "$" in a else a for a in args]
    parser = build_parser()
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            parser.parse_args(args)
    except SystemExit:
        return f"not accepted by the CLI: {sink.getvalue().strip().splitlines()[-1:]}"
    return None


def _check_module(name: str) -> str | None:
    """A ``python -m`` module of the package: it exists and runs as a script."""
    path = REPO_ROOT.joinpath(*name.split(".")).with_suffix(".py")
    if not name.startswith("pipelines.") or not path.is_file():
        return f"no module {name} in the package"
    if 'if __name__ == "__main__":' not in path.read_text():
        return f"{name} does not run as a script (no __main__ guard)"
    return None


def check(command: str, targets: set[str]) -> str | None:
    """None when the command is real, else why not."""
    for words in _segments(command):
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]  # environment assignments
        if not words:
            continue  # a shell variable assignment
        program, args = words[0], words[1:]
        if program == "python" and args[:2] == ["-m", "pipelines"]:
            program, args = "pipelines", args[2:]
        if program == "python" and args[:1] == ["-m"] and args[1:2]:
            problem = _check_module(args[1])
        elif program == "pipelines":
            problem = _check_pipelines(args)
        elif program == "make":
            names = {arg.split("=", 1)[0] + "=" if "=" in arg else arg for arg in args}
            real = any("=" not in arg for arg in args) and names <= targets
            problem = None if real else f"unknown make target {args}"
        elif program == "kubectl" and args[:2] == ["argo", "rollouts"]:
            problem = None if args[2:3] and args[2] in ARGO_ROLLOUTS else f"argo rollouts {args}"
        elif program in {"dvc", "git", "kubectl", "promtool", "amtool", "gh"}:
            known = {
                "dvc": DVC,
                "git": GIT,
                "kubectl": KUBECTL,
                "promtool": PROMTOOL,
                "amtool": AMTOOL,
                "gh": GH,
            }[program]
            problem = None if args and args[0] in known else f"unknown {program} sub-command"
        elif program in PLAIN:
            problem = None
        else:
            problem = f"unknown program {program!r}"
        if problem:
            return problem
    return None


def _first_program(command: str) -> str:
    words = shlex.split(command, comments=True) or [""]
    while len(words) > 1 and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words = words[1:]
    return words[0]


def _commands() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        executed = str(path.relative_to(REPO_ROOT)).startswith(EXECUTED)
        for where, command in extract(path):
            if executed and _first_program(command) not in KNOWN:
                continue  # shell glue of an executed block (trap, for, curl | jq, ...)
            out.append((where, command))
    return out


COMMANDS = _commands()


def test_docs_have_commands():
    assert len(DOCS) >= 12  # architecture, 5 runbooks, 6 playbooks
    assert sum(1 for _, c in COMMANDS if "pipelines" in c) >= 30


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_command_is_real(where, command):
    assert check(command, _make_targets()) is None, f"{where}: {command}"


@pytest.mark.parametrize(
    "command",
    [
        "pipelines monitor drfit --reference a --current b",  # typo in a sub-command
        "pipelines monitor drift --reference a",  # required option missing
        "pipelines monitor health --window 3",  # unknown option
        "pipelines frobnicate",
        "make deploy-everything",
        "make e2e E2E_ARG=--keep",  # a variable the Makefile does not have
        "make E2E_ARGS=",  # a variable but no target
        "dvc frobnicate",
        "git yolo",
        "kubectl argo rollouts explode strategy-service",
        "python -m pipelines.delivery.canaries",  # no such module
        "python -m pipelines.delivery.promote",  # a module, not a script
        "rm -rf /",
    ],
)
def test_check_rejects_unreal_commands(command):
    assert check(command, _make_targets()) is not None


def test_extract_reads_blocks_continuations_and_inline_spans(tmp_path):
    doc = tmp_path / "probe.md"
    text = (
        "Run `pipelines monitor health` now.\n\n```bash\n# a comment\n$ dvc pull\n"
        "pipelines monitor drift \\\n  --reference a --current b\n```\n\n```yaml\nkey: v\n```\n"
    )
    doc.write_text(text)
    found = [c for _, c in extract(doc, tmp_path)]
    assert found == [
        "pipelines monitor health",
        "dvc pull",
        "pipelines monitor drift --reference a --current b",
    ]


def test_every_runbook_and_playbook_exists():
    runbooks = {p.stem for p in (REPO_ROOT / "docs/runbooks").glob("*.md")}
    playbooks = {p.stem for p in (REPO_ROOT / "docs/playbooks").glob("*.md")}
    assert runbooks == {
        "model-deployment",
        "data-pipeline-issues",
        "system-outages",
        "rollback-procedures",
        "disaster-recovery",
    }
    # One per critical and warning alert (tests/monitoring/test_alert_rules.py checks the links).
    assert len(playbooks) == 30


def test_relative_links_resolve():
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target:
                continue
            assert (path.parent / target).resolve().exists(), f"{path}: broken link {target}"
