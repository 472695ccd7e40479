"""The image build and the weekly training, through ``image.yml`` and ``train.yml``'s own steps.

Training registers the model in the twin's MLflow server (PostgreSQL store, S3 artifacts) with
the service image built from the same code, commits its small outputs as the bot, and opens the
dev promotion pull request with the GitHub App token, so CI runs on it; the person merges it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from mlflow.tracking import MlflowClient

from twin.errors import TwinError
from twin.week.context import RUN_TIMEOUT, Week
from twin.week.data_nights import restore_clone

MODEL = "trading-lgbm"


def build_images(week: Week) -> str:
    """``image.yml`` on main: the service and tools images by digest, published as statuses."""
    event = week.gh.dispatch_workflow("image.yml")
    (run,) = week.gh.wait_event(int(event["id"]), RUN_TIMEOUT)
    week.run_ok(run, "image.yml")
    summary = week.gh.summary(int(run["id"])).strip().splitlines()
    week.facts["images"] = summary
    return "; ".join(line.split(" built from")[0] for line in summary)


def weekly_training(week: Week) -> str:
    """``train.yml`` on its schedule: train, gates, card, register, commit, dev pull request."""
    run = week.scheduled("train.yml")
    week.run_ok(run, "train.yml")
    candidate = json.loads(week.git("show", "main:models/candidate.json"))
    version, sha = str(candidate["model_version"]), candidate["artifact"]["sha256"]
    uri = str(candidate["artifact"]["uri"])
    if not uri.startswith("s3://"):
        raise TwinError(f"candidate artifact {uri}: expected the MLflow artifact store (s3://)")
    tracking = week.env["MLFLOW_TRACKING_URI"]
    found = MlflowClient(tracking).get_model_version(MODEL, version)
    if (found.tags or {}).get("bundle_sha256") != sha:
        raise TwinError(f"MLflow {MODEL} {version}: tag bundle_sha256 is not the bundle's {sha}")
    pulls = week.gh.pulls(head="promote/dev")
    if len(pulls) != 1:
        raise TwinError(f"train.yml opened {len(pulls)} dev promotion pull requests, expected 1")
    week.facts.setdefault("models", []).append({"version": version, "sha256": sha, "uri": uri})
    week.facts["dev_pr"] = int(pulls[0]["number"])
    return (
        f"run {run['id']}: {MODEL} version {version} (sha256 {sha[:12]}) in MLflow, artifact "
        f"{uri.split('/')[2]}/...; dev PR #{pulls[0]['number']} by {pulls[0]['user']['login']}"
    )


def register_again(week: Week) -> str:
    """A second registration of the same bundle (fresh clone, DVC pull) gives the same version.

    It needs nothing the next steps change (the clone is of this commit), so it runs beside
    them: the dev pull request's CI and merge, the dev deploy (which tags versions, never adds
    one).
    """
    first = dict(week.facts["models"][-1])
    commit = week.git("rev-parse", "main")
    week.record.beside("registering again", lambda: _register_again(week, first, commit))
    return f"bundle {first['sha256'][:12]} of {commit[:12]}"


def _register_again(week: Week, first: dict[str, str], commit: str) -> str:
    clone = week.home / "clones" / "register-again"
    restore_clone(week, "register-again", target_stage="register", rev=commit)
    env = {**os.environ, **week.env}
    before = _versions(week)
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pipelines", "register"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise TwinError(f"pipelines register (again): {proc.stderr.strip().splitlines()[-1:]}")
    again = json.loads((clone / "models" / "candidate.json").read_text())
    after = _versions(week)
    if str(again["model_version"]) != first["version"] or after != before:
        raise TwinError(
            f"registering sha256 {first['sha256'][:12]} again gave version "
            f"{again['model_version']} (versions {before} -> {after}), expected {first['version']}"
        )
    return (
        f"same bundle registered twice: version {first['version']} both times, {len(after)} in all"
    )


def _versions(week: Week) -> list[str]:
    client = MlflowClient(week.env["MLFLOW_TRACKING_URI"])
    return sorted(v.version for v in client.search_model_versions(f"name='{MODEL}'"))


def ci_and_merge(week: Week, key: str, what: str) -> str:
    """CI ran on the pull request (opened by the App, not GITHUB_TOKEN); the person merges it."""
    number = int(week.facts[key])
    pull = week.gh.api("GET", f"/pulls/{number}").json()
    head = pull["head"]["sha"]

    def ci_done() -> list[dict[str, Any]] | None:
        runs = week.gh.runs("ci.yml", head_sha=head)
        done = [r for r in runs if r["status"] == "completed"]
        return done if runs and len(done) == len(runs) else None

    reasons = week.gh.no_run_reasons(pr=number)
    if not week.gh.runs("ci.yml", head_sha=head) and reasons:
        raise TwinError(f"{what} PR #{number} got no CI: {reasons[0]}")
    runs = week.gh.wait_for(f"CI on PR #{number}", ci_done, RUN_TIMEOUT)
    for run in runs:
        week.run_ok(run, f"ci.yml on PR #{number}")
    merged = week.gh.merge(number)
    week.facts[f"{key}_merge"] = merged["sha"]
    return f"PR #{number}: CI run {runs[0]['id']} passed; merged as {merged['sha'][:12]}"
