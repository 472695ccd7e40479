"""A ``run:`` step as the Actions runner executes it: a script file, a shell, files for commands.

Shells (docs "Workflow syntax", ``jobs.<id>.steps[*].shell``): unspecified on Linux is
``bash -e {0}`` (``sh -e {0}`` without bash); ``bash`` is ``bash --noprofile --norc -eo pipefail
{0}``; ``sh`` is ``sh -e {0}``; ``python`` is ``python {0}``; anything else is a command template
with ``{0}`` (appended when missing). Each step gets fresh ``GITHUB_OUTPUT``, ``GITHUB_ENV``,
``GITHUB_PATH``, ``GITHUB_STATE`` and ``GITHUB_STEP_SUMMARY`` files; ``name=value`` lines and the
``name<<DELIMITER`` heredoc form are read after the step. The step runs in its own process group,
killed on timeout or cancellation.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from twin.errors import TwinError

SHELLS = {
    "bash": ("bash --noprofile --norc -eo pipefail {0}", ".sh"),
    "sh": ("sh -e {0}", ".sh"),
    "python": ("python {0}", ".py"),
}
KILL_GRACE_SECONDS = 5.0
# GitHub-hosted jobs run on GitHub's machines, not on the platform's runners and nodes that the
# twin's one machine stands for: their steps yield the CPU (CI on each push to main, about 9 s
# a run, competed with the deploys and trainings that follow the push).
HOSTED_NICENESS = 10
_COMMAND = re.compile(r"^::([A-Za-z-]+)(?: ([^:]*))?::(.*)$")


class CommandFileError(ValueError):
    """A malformed GITHUB_OUTPUT/GITHUB_ENV line (names the file and the line)."""


def shell_command(shell: str | None, script: Path, path_env: str) -> list[str]:
    """The argv for a script under ``shell`` (None = the runner's default)."""
    if shell is None:
        template = "bash -e {0}" if shutil.which("bash", path=path_env) else "sh -e {0}"
    elif shell in SHELLS:
        template = SHELLS[shell][0]
    else:
        template = shell if "{0}" in shell else f"{shell} {{0}}"
    argv = [part.replace("{0}", str(script)) for part in shlex.split(template)]
    program = shutil.which(argv[0], path=path_env)
    if program is None:
        raise TwinError(f"shell '{argv[0]}' is not on the job's PATH")
    return [program, *argv[1:]]


def script_suffix(shell: str | None) -> str:
    """The script file's extension for ``shell``."""
    return SHELLS.get(shell or "bash", ("", ".sh" if not shell or "sh" in shell else ""))[1]


def parse_command_file(path: Path) -> dict[str, str]:
    """``name=value`` and ``name<<DELIM ... DELIM`` entries of a GITHUB_OUTPUT/ENV file.

    Raises:
        CommandFileError: A line that is neither form, or a heredoc without its delimiter.
    """
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").split("\n")
    out: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        i += 1
        if not line.strip():
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc > 0 and (eq < 0 or heredoc < eq):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            body: list[str] = []
            while i < len(lines) and lines[i].rstrip("\r") != delimiter:
                body.append(lines[i].rstrip("\r"))
                i += 1
            if i >= len(lines):
                raise CommandFileError(f"{path.name}: matching delimiter not found '{delimiter}'")
            i += 1
            out[name] = "\n".join(body)
        elif eq > 0:
            out[line[:eq]] = line[eq + 1 :]
        else:
            raise CommandFileError(f"{path.name}: invalid format '{line}'")
    return out


@dataclass
class ProcessResult:
    """How a step's process ended."""

    exit_code: int | None
    timed_out: bool = False
    cancelled: bool = False
    annotations: list[dict[str, str]] = field(default_factory=list)


@dataclass
class LineSink:
    """Writes a step's output to its log, masking secrets and handling workflow commands."""

    log: Path
    masks: list[str]
    annotations: list[dict[str, str]] = field(default_factory=list)
    stopped_token: str | None = None

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in sorted(self.masks, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text

    def line(self, raw: str) -> None:
        """One output line."""
        command = _COMMAND.match(raw.rstrip("\n"))
        if command and self.stopped_token is None:
            name, props, message = command.group(1), command.group(2) or "", command.group(3)
            if name == "add-mask":
                self.masks.append(message.strip())
                return
            if name in ("error", "warning", "notice"):
                self.annotations.append(
                    {"level": name, "message": self.mask(message), "properties": props}
                )
            if name == "stop-commands":
                self.stopped_token = message
        elif command and command.group(1) == self.stopped_token:
            self.stopped_token = None
        with self.log.open("a", encoding="utf-8") as out:
            out.write(self.mask(raw if raw.endswith("\n") else raw + "\n"))


def run_process(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    sink: LineSink,
    deadline: float | None,
    cancelled: Callable[[], bool],
    on_start: Callable[[int], None] = lambda pid: None,
    niceness: int = 0,
) -> ProcessResult:
    """Run a step's process in its own group; kill the group at ``deadline`` or on cancellation.

    ``niceness`` above 0 starts it through ``nice -n`` (which execs it: same PID and group).
    """
    if niceness:
        argv = ["nice", "-n", str(niceness), *argv]
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv from the workflow, as a runner does
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
    except OSError as exc:
        raise TwinError(f"cannot start {argv[0]}: {exc.strerror}") from None
    on_start(proc.pid)
    assert proc.stdout is not None  # noqa: S101 - stdout=PIPE above
    stdout = proc.stdout

    def pump() -> None:
        for raw in iter(stdout.readline, b""):
            sink.line(raw.decode("utf-8", errors="replace"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    result = ProcessResult(exit_code=None)
    while proc.poll() is None:
        if cancelled():
            result.cancelled = True
        elif deadline is not None and time.monotonic() >= deadline:
            result.timed_out = True
        if result.cancelled or result.timed_out:
            kill_group(proc)
            break
        try:
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
    reader.join(timeout=KILL_GRACE_SECONDS)
    result.exit_code = proc.returncode
    result.annotations = sink.annotations
    return result


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL whatever of it is left after a grace period."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_SECONDS)
    kill_orphans(proc.pid)


def kill_orphans(pgid: int) -> None:
    """SIGKILL what is left of a step's process group (the runner's orphan clean-up)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
