"""Nightly data, through ``data.yml``'s own steps; then a fresh clone restores it from the remote.

Each night the vendor drops an object into the landing bucket and the schedule fires. The run
must ingest exactly the new bars, commit the new ``dvc.lock`` as the bot and push the data
version to the DVC remote; a fresh clone then pulls it and ``dvc status`` is clean.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from twin.errors import TwinError
from twin.week.context import RUN_TIMEOUT, Week
from twin.week.market import drop_corrupt, drop_night

BOT = "trading-pipelines-bot[bot]"


def _data_run(week: Week) -> dict[str, Any]:
    event = week.gh.fire_schedule("data.yml")
    if len(event["runs"]) != 1:
        raise TwinError(f"data.yml schedule started {len(event['runs'])} runs, expected 1")
    return week.gh.wait_run(int(event["runs"][0]), RUN_TIMEOUT)


def nightly(week: Week, night: int, *, restore: bool = False) -> str:
    """Night ``night``: the vendor's drop, the scheduled run, the bot's commit of dvc.lock."""
    env = week.env
    before = week.git("rev-parse", "main")
    drop = drop_night(week.root, env, night)
    run = week.run_ok(_data_run(week), f"night {night}: data.yml")
    author, subject = week.git("log", "-1", "--format=%an%n%s", "main", "--", "dvc.lock").split(
        "\n", 1
    )
    if week.git("rev-parse", "main") == before or author != BOT:
        raise TwinError(f"night {night}: no commit of dvc.lock by {BOT} on main ({author})")
    appended = _appended(week, int(run["id"]))
    if appended != drop.rows:
        raise TwinError(
            f"night {night}: ingested {appended} bars, the vendor dropped {drop.rows} new ones"
        )
    week.facts[f"night{night}"] = {"run": run["id"], "appended": appended, "last": drop.last}
    detail = f"run {run['id']}: {appended:,} new bars to {drop.last}; '{subject}' by the bot"
    if restore:
        commit = week.git("rev-parse", "main")

        def fresh_clone() -> str:
            pulled = restore_clone(week, f"night-{night}", rev=commit)
            if int(pulled["last_run"]["appended"]) != appended:
                raise TwinError(f"night {night}: the fresh clone's ingest state is not this run's")
            return f"fresh clone of {commit[:12]}: dvc pull, dvc status clean"

        week.record.beside("the fresh clone", fresh_clone)
    return detail


def _appended(week: Week, run_id: int) -> int:
    """Bars the run's ingest appended (its own log line: ``fetched F, appended N, ...``)."""
    log = week.gh.step_log(run_id, "data")
    found = re.findall(r"ingest: fetched [\d,]+, appended (\d+)", log)
    if not found:
        raise TwinError(f"data.yml run {run_id}: no ingest summary line in its log")
    return int(found[-1])


def restore_clone(
    week: Week, name: str, target_stage: str = "data_health", rev: str | None = None
) -> dict[str, Any]:
    """Clone main (or ``rev``), ``dvc pull`` ``target_stage`` and its upstream, require clean.

    Only the data stages before training has run: the model stages' outputs in the committed
    ``dvc.lock`` come from wherever the repository was last trained.

    Returns:
        The pulled ingest state (``data/ingested/state.json``).
    """
    target = week.home / "clones" / name
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _run(["git", "clone", "--quiet", str(week.origin), str(target)], week.home, "git clone")
    if rev is not None:
        _run(["git", "checkout", "--quiet", rev], target, f"git checkout {rev[:12]}")
    env = {**os.environ, **week.env}
    dvc = str(Path(sys.executable).parent / "dvc")  # the twin's own venv
    remote = f"s3://{env['TWIN_BUCKET_DVC']}/cache"
    _run([dvc, "remote", "modify", "--local", "storage", "url", remote], target, "dvc remote", env)
    _run([dvc, "pull", "--quiet", "--with-deps", target_stage], target, "dvc pull", env)
    status = _run(
        [dvc, "status", "--with-deps", target_stage], target, "dvc status", env, check=False
    )
    if status.returncode != 0 or "up to date" not in status.stdout:
        raise TwinError(
            f"{name}: dvc status after pull is not clean: {status.stdout.strip()[:300]}"
        )
    doc: dict[str, Any] = json.loads((target / "data/ingested/state.json").read_text())
    return doc


def _run(
    argv: list[str],
    cwd: Path,
    what: str,
    env: dict[str, str] | None = None,
    *,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(  # noqa: S603 - fixed commands
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise TwinError(f"{what} in {cwd.name}: exit {proc.returncode}: {tail}")
    return proc


def failed_night(week: Week) -> str:
    """A vendor's broken upload: the run fails and DataPipelineFailed pages through PagerDuty."""
    from twin.sink import wait_for

    env = week.env
    key = drop_corrupt(env)
    run = _data_run(week)
    if run.get("conclusion") != "failure":
        raise TwinError(f"the broken upload {key} did not fail data.yml ({run.get('conclusion')})")
    failed_at = _completed_epoch(run)
    note = wait_for(
        env["TWIN_SINK_URL"],
        lambda n: _is_alert(n, "DataPipelineFailed", "critical"),
        timeout=300,
        receiver=None,
    )
    mttd = float(note["received_at"]) - failed_at
    week.record.figures["MTTD (failed nightly run -> DataPipelineFailed at the sink)"] = (
        f"{mttd:.1f} s (receiver {note['receiver']})"
    )
    if "pagerduty" not in str(note["receiver"]):
        raise TwinError(f"DataPipelineFailed reached receiver {note['receiver']}, not PagerDuty")
    return f"run {run['id']} failed on {key}; paged {note['receiver']} after {mttd:.1f} s"


def _completed_epoch(run: dict[str, Any]) -> float:
    from datetime import datetime

    stamp = str(run.get("updated_at") or run.get("completed_at"))
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _is_alert(note: dict[str, Any], name: str, severity: str) -> bool:
    body = note.get("body") or note.get("payload") or {}
    for alert in body.get("alerts", []):
        labels = alert.get("labels", {})
        if labels.get("alertname") == name and labels.get("severity") == severity:
            return alert.get("status") == "firing"
    return False
