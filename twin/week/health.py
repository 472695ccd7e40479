"""Model and feature health in the week: the hourly check, the weekly report, a drift that pages.

The hourly check and the weekly report are the workflows' own runs (``feature-health.yml`` on
its schedule, ``weekly-report.yml`` dispatched for the compressed week). The drift is the
documented test hook ``python -m twin.drift`` (a moved copy of the feature store) checked by
the same ``pipelines monitor health`` command the hourly workflow runs, whose figures reach
Prometheus through the Pushgateway; ``FeaturePSICritical`` must page the PagerDuty route.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

import httpx

from twin.errors import TwinError
from twin.week.context import RUN_TIMEOUT, Week
from twin.week.data_nights import _is_alert, _run, restore_clone

DRIFTED = "vol_21"  # a per-instrument feature of the bundled model
CRITICAL = 20  # pipelines monitor health: exit status of a critical finding
# Info alerts (email route) that the week's own runs raise: nights, promotions, deploys, report.
INFO_ALERTS = (
    "DataPipelineCompleted",
    "ModelPromotedToStaging",
    "DeploymentCompleted",
    "WeeklyPerformanceReport",
)
HEALTH_STEP = "Feature health against prod's model (exit 10 warning, 20 critical)"


def hourly_without_model(week: Week) -> str:
    """``feature-health.yml`` before prod has a model: a notice and a green run, not a failure."""
    run = week.scheduled("feature-health.yml")
    week.run_ok(run, "feature-health.yml (no model in prod)")
    summary = " ".join(week.gh.summary(int(run["id"])).split())
    if "no model deployed" not in summary:
        raise TwinError(f"feature-health.yml run {run['id']}: no notice of the missing model")
    return f"run {run['id']}: green; {summary[:120]}"


def hourly_check(week: Week) -> str:
    """``feature-health.yml`` on its schedule against the model prod serves.

    The verdict is the data's: ok or warning ends the run green; critical (exit 20) fails the
    health step by design, and ``FeaturePSICritical`` must then be active at Alertmanager (the
    drift step before it already paged the PagerDuty route for the same alert group).
    """
    run = week.scheduled("feature-health.yml")
    if run.get("conclusion") == "success":
        summary = " ".join(week.gh.summary(int(run["id"])).split())
        return f"run {run['id']}: {summary[:160] or 'ok'}"
    log = week.gh.step_log(int(run["id"]), "health", HEALTH_STEP)
    if "exit code 20" not in log:
        week.run_ok(run, "feature-health.yml")  # names the step that failed otherwise
    found = re.search(r"largest PSI against its limits: ([\d.]+) on (\w+)", log)
    finding = f"PSI {found.group(1)} on {found.group(2)}" if found else "see its report"
    active = _active_alerts(week, "FeaturePSICritical")
    if not active:
        raise TwinError(
            f"feature-health.yml run {run['id']}: critical, but FeaturePSICritical is not active"
        )
    return (
        f"run {run['id']}: critical on the week's real bars ({finding}), "
        f"run failed by design (exit 20); FeaturePSICritical active for {len(active)} series"
    )


def _active_alerts(week: Week, name: str) -> list[dict[str, object]]:
    url = week.env["ALERTMANAGER_URL"]
    alerts = httpx.get(f"{url}/api/v2/alerts", params={"active": "true"}, timeout=10).json()
    return [a for a in alerts if (a.get("labels") or {}).get("alertname") == name]


def weekly_report(week: Week) -> str:
    """``weekly-report.yml`` over the twin's compressed week (the last hour)."""
    began = time.time()
    event = week.gh.dispatch_workflow("weekly-report.yml", inputs={"days": "0.042"})
    (run,) = week.gh.wait_event(int(event["id"]), RUN_TIMEOUT)
    week.run_ok(run, "weekly-report.yml")
    summary = week.gh.summary(int(run["id"]))
    if "Sharpe" not in summary and "sharpe" not in summary:
        raise TwinError(f"weekly-report.yml run {run['id']}: no Sharpe in its summary")
    lines = [line for line in summary.splitlines() if line.startswith("|")]
    from twin.sink import alert_names, notifications, wait_for

    url = week.env["TWIN_SINK_URL"]
    wait_for(
        url,
        lambda n: (
            float(n["received_at"]) >= began and _is_alert(n, "WeeklyPerformanceReport", "info")
        ),
        timeout=120,
    )
    info = sorted(
        {
            name
            for n in notifications(url)
            if "info" in str(n["receiver"])
            for name in alert_names(n)
        }
    )
    missing = sorted(set(INFO_ALERTS) - set(info))
    if missing:
        raise TwinError(
            f"info alerts never reached the email route from the week's runs: {missing}"
        )
    return (
        f"run {run['id']}: report with {len(lines)} table rows in the job summary; info alerts "
        f"at the email route from the week's runs: {', '.join(info)}"
    )


def drift_pages(week: Week) -> str:
    """Drifted live features: the health check pushes PSI; FeaturePSICritical pages PagerDuty."""
    from twin.sink import wait_for

    clone = week.home / "clones" / "drift"
    restore_clone(week, "drift", target_stage="features")
    env = {**os.environ, **week.env}
    drifted = clone / "drifted-features"
    _run(
        [sys.executable, "-m", "twin.drift", "--store", "data/features", "--out", str(drifted)]
        + ["--feature", DRIFTED, "--scale", "3", "--shift-sd", "4"],
        clone,
        "python -m twin.drift",
        env,
    )
    began = time.time()
    check = _run(
        [sys.executable, "-m", "pipelines", "monitor", "health", "--manifest"]
        + ["environments/prod/model.yaml", "--features", str(drifted)],
        clone,
        "pipelines monitor health",
        {**env, "PIPELINES_ENVIRONMENT": "prod"},
        check=False,
    )
    if check.returncode != CRITICAL:
        tail = " | ".join((check.stderr or check.stdout).strip().splitlines()[-4:])
        raise TwinError(f"pipelines monitor health: exit {check.returncode}, expected 20: {tail}")
    report = json.loads((clone / "reports" / "feature_health.json").read_text())
    moved: dict[str, Any] = next((f for f in report["features"] if f["feature"] == DRIFTED), {})
    if moved.get("status") != "critical":
        raise TwinError(f"the drifted feature {DRIFTED} is {moved.get('status')}, not critical")
    note = wait_for(
        env["TWIN_SINK_URL"],
        # Only a page sent after this check counts (never one left from earlier in the week).
        lambda n: (
            float(n["received_at"]) >= began and _is_alert(n, "FeaturePSICritical", "critical")
        ),
        timeout=300,
        receiver=None,
    )
    if "pagerduty" not in str(note["receiver"]):
        raise TwinError(f"FeaturePSICritical reached receiver {note['receiver']}, not PagerDuty")
    seconds = float(note["received_at"]) - began
    week.record.figures["drift detection (health check -> FeaturePSICritical at the sink)"] = (
        f"{seconds:.1f} s"
    )
    return (
        f"{DRIFTED} moved: psi {float(moved['psi']):.2f} (critical); paged {note['receiver']} "
        f"after {seconds:.1f} s"
    )
