"""Execute the marked command blocks of the docs, with the endpoints of a platform (the twin).

Each runnable block runs as one script (``bash -e -o pipefail``) in the workspace folder, with
the environment of the caller plus the twin's client environment (``$TWIN_HOME/state.json``:
``MLFLOW_TRACKING_URI``, ``AWS_ENDPOINT_URL``, ``PROMETHEUS_URL``, ``PUSHGATEWAY_URL``,
``ALERTMANAGER_URL``, ...), with the kubectl folder and the project's ``bin`` first on
``PATH``. A block runs when the capabilities it needs are available (:func:`capabilities`) and,
if it changes state, only when changes are allowed; otherwise it is skipped with the reason.
A block passes when its exit status is one it expects.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from twin import procs, state
from twin.runbooks.extract import Block

TAIL_LINES = 15


@dataclass(frozen=True)
class Outcome:
    """How one block went: ``pass``, ``FAIL`` or ``skipped``, and why."""

    where: str
    status: str
    seconds: float = 0.0
    exit_code: int | None = None
    detail: str = ""


def twin_env(home: Path | None) -> dict[str, str]:
    """The client environment the twin recorded (empty without a twin home or state file)."""
    if home is None or not (home / state.STATE_FILE).exists():
        return {}
    return {str(k): str(v) for k, v in state.load(home)["env"].items()}


def build_env(
    base: Mapping[str, str], twin: Mapping[str, str], kubectl_dir: Path | None
) -> dict[str, str]:
    """``base`` + the twin's variables, the kubectl folder and this Python's bin first on PATH."""
    env = {**base, **twin}
    front = [str(Path(sys.executable).parent)]
    if kubectl_dir is not None:
        front.insert(0, str(kubectl_dir))
    env["PATH"] = os.pathsep.join([*front, env.get("PATH", "")])
    for key, value in (("DO_NOT_TRACK", "true"), ("MLFLOW_DISABLE_TELEMETRY", "true")):
        env.setdefault(key, value)
    env.setdefault("DVC_NO_ANALYTICS", "1")
    # A block that starts a local server (system-outages) listens here, not on fixed ports.
    env.setdefault("SERVE_PORT", str(procs.free_port()))
    while env.get("SERVE_METRICS_PORT", env["SERVE_PORT"]) == env["SERVE_PORT"]:
        env["SERVE_METRICS_PORT"] = str(procs.free_port())
    return env


def capabilities(env: Mapping[str, str], workdir: Path, extra: Iterable[str] = ()) -> set[str]:
    """What the environment offers: ``repo`` always; the rest from variables and files."""
    found = {"repo", *extra}
    signals = {
        "prometheus": "PROMETHEUS_URL",
        "pushgateway": "PUSHGATEWAY_URL",
        "alertmanager": "ALERTMANAGER_URL",
        "s3": "AWS_ENDPOINT_URL",
        "github": "GITHUB_API_URL",
    }
    found |= {cap for cap, var in signals.items() if env.get(var)}
    if env.get("MLFLOW_TRACKING_URI", "").startswith("http"):
        found.add("mlflow")
    if env.get("TWIN_KUBE_URL") and shutil.which("kubectl", path=env.get("PATH")):
        found.add("cluster")
    if (workdir / "data/features/_metadata.json").exists() and (
        workdir / "models/model_bundle.json"
    ).exists():
        found.add("data")
    return found


def run_block(block: Block, env: Mapping[str, str], workdir: Path, timeout: float) -> Outcome:
    """Run one block as a bash script; pass when its exit status is expected."""
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - the docs' own commands, by design
            ["bash", "-e", "-o", "pipefail", "-c", block.script],  # noqa: S607
            cwd=workdir,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(
            block.where, "FAIL", time.monotonic() - started, None, f"timed out after {timeout:.0f}s"
        )
    seconds = time.monotonic() - started
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-TAIL_LINES:])
    status = "pass" if done.returncode in block.expect else "FAIL"
    return Outcome(block.where, status, seconds, done.returncode, tail)


def run_all(
    blocks: Iterable[Block],
    env: Mapping[str, str],
    workdir: Path,
    have: set[str],
    allow_changes: bool = False,
    timeout: float = 300.0,
) -> list[Outcome]:
    """Run every block the environment can run; skip the others with the reason."""
    out = []
    for block in blocks:
        if not block.runnable:
            out.append(Outcome(block.where, "skipped", detail=f"manual: {block.reason}"))
        elif missing := sorted(block.needs - have):
            out.append(Outcome(block.where, "skipped", detail=f"needs {', '.join(missing)}"))
        elif block.changes and not allow_changes:
            out.append(Outcome(block.where, "skipped", detail="changes state (--changes to run)"))
        else:
            out.append(run_block(block, env, workdir, timeout))
    return out


def table(outcomes: list[Outcome]) -> str:
    """A Markdown table of the outcomes, failures with their output's last lines."""
    lines = ["| block | result | exit | seconds | detail |", "|---|---|---|---|---|"]
    for o in outcomes:
        detail = (o.detail if o.status != "pass" else "").replace("|", "\\|").replace("\n", " / ")
        code = "" if o.exit_code is None else str(o.exit_code)
        lines.append(f"| {o.where} | {o.status} | {code} | {o.seconds:.1f} | {detail[:300]} |")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("pass", "FAIL", "skipped")}
    lines.append(f"\n{counts['pass']} passed, {counts['FAIL']} failed, {counts['skipped']} skipped")
    return "\n".join(lines)
