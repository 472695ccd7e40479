"""``pipelines promote --to ENV``: turn a candidate that passed ENV's gate into a pull request.

The promotion branch is ``<prefix>/<env>``: one open promotion per environment. Its commit is
built on the base branch and changes only ``environments/<env>/model.yaml``. Re-running with the
same model changes nothing; a different model while the branch exists fails clearly, and the
branch is created by compare-and-swap so two racing promotions cannot both win.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.delivery import report
from pipelines.delivery.candidate import (
    Candidate,
    check_gate,
    parse_candidate,
    read_json,
)
from pipelines.delivery.github import GitHubClient
from pipelines.delivery.gitops import Git, GitError
from pipelines.delivery.params import DeliveryParams
from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.io.digest import file_sha256
from pipelines.registry.manifest import (
    empty_manifest,
    model_key,
    parse_manifest,
    render_manifest,
)

log = logging.getLogger(__name__)


class PromotionRefused(PipelineError):
    """The promotion breaks the dev -> staging -> prod order or races another one."""


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion did."""

    environment: str
    branch: str
    commit: str
    status: str  # created | unchanged | already-deployed
    body: str
    pull_request: int | None = None
    version: str = ""


def manifest_path(params: DeliveryParams, env: str) -> str:
    """Repository-relative manifest path of an environment."""
    return f"{params.environments_dir}/{env}/model.yaml"


def manifest_at(git: Git, rev: str, params: DeliveryParams, env: str) -> dict[str, Any]:
    """The environment's manifest at a revision (the empty manifest when the file is absent)."""
    path = manifest_path(params, env)
    text = git.show(rev, path)
    return empty_manifest(env) if text is None else parse_manifest(text, f"{rev[:12]}:{path}")


def ran_in(git: Git, rev: str, params: DeliveryParams, env: str) -> set[tuple[str, str, str]]:
    """Every ``(name, version, sha256)`` that ``env``'s manifest ever named up to ``rev``."""
    path = manifest_path(params, env)
    seen: set[tuple[str, str, str]] = set()
    for commit in git.path_history(rev, path):
        text = git.show(commit, path)
        if text is None:
            continue
        key = model_key(parse_manifest(text, f"{commit[:12]}:{path}"))
        if key:
            seen.add(key)
    return seen


def build_manifest(
    env: str, cand: Candidate, gate_sha: str, source: str, at: datetime, by: str, reason: str
) -> dict[str, Any]:
    """The manifest that deploys ``cand`` to ``env`` (pure)."""
    doc = empty_manifest(env)
    doc["model"] = {
        "name": cand.name,
        "version": cand.version,
        "artifact": {"uri": cand.uri, "sha256": cand.sha256},
        "provenance": dict(cand.provenance),
        "evaluation": {
            "metrics": dict(cand.metrics),
            "gate": {"verdict": "pass", "report_sha256": gate_sha},
        },
        "promotion": {
            "from": source,
            "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "by": by,
            "reason": reason,
        },
    }
    return doc


def _artifacts_url() -> str | None:
    server, repo, run = (
        os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    return f"{server}/{repo}/actions/runs/{run}#artifacts" if server and repo and run else None


def _append_summary(text: str) -> None:
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    path = Path(target)
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    atomic.write_text(path, before + text + "\n")


def promote(
    root: Path,
    params: DeliveryParams,
    env: str,
    *,
    by: str,
    reason: str | None = None,
    candidate_path: Path | None = None,
    base: str | None = None,
    push: bool = False,
    github: GitHubClient | None = None,
    now: datetime | None = None,
) -> PromotionResult:
    """Promote the current candidate to ``env`` as a branch (and pull request).

    Raises:
        PromotionRefused: Out of order, or another promotion to ``env`` is open.
        GateFailed: ``env``'s gate did not pass.
    """
    if env not in params.environments:
        raise PromotionRefused(f"--to {env}: expected one of {', '.join(params.environments)}")
    git = Git(root)
    base = base or params.base_branch
    base_commit = git.rev(base)
    if base_commit is None:
        raise PromotionRefused(f"base branch {base!r} does not exist in {root}")
    cand_file = root / (candidate_path or Path(params.candidate))
    cand = parse_candidate(read_json(cand_file), str(cand_file))
    gate_rel = cand.gate_reports.get(env, f"reports/gates/{env}.json")
    gate_file = root / gate_rel
    gate_report = read_json(gate_file)
    check_gate(gate_report, env, gate_rel)
    key = (cand.name, cand.version, cand.sha256)

    current = manifest_at(git, base_commit, params, env)
    branch = f"{params.branch_prefix}/{env}"
    if model_key(current) == key:
        log.info("%s already runs %s %s on %s: nothing to do", env, cand.name, cand.version, base)
        return PromotionResult(
            env, branch, base_commit, "already-deployed", "", version=cand.version
        )

    position = params.environments.index(env)
    source = "training"
    if position > 0:
        source = params.environments[position - 1]
        if key not in ran_in(git, base_commit, params, source):
            raise PromotionRefused(
                f"{env}: {cand.name} {cand.version} (sha256 {cand.sha256[:12]}) never ran in "
                f"{source} ({manifest_path(params, source)} history on {base}); "
                f"promote it to {source} first"
            )

    doc = build_manifest(
        env,
        cand,
        file_sha256(gate_file),
        source,
        now or datetime.now(UTC),
        by,
        reason or f"gate passed for {env} ({gate_rel})",
    )
    path = manifest_path(params, env)
    ref = f"refs/heads/{branch}"
    # In a fresh CI clone an open promotion exists only as a remote-tracking branch.
    remote_seen = git.rev(f"refs/remotes/{params.remote}/{branch}")
    if remote_seen and git.rev(ref) is None:
        git.swap_ref(ref, remote_seen)
    message = f"Promote {cand.name} {cand.version} to {env}\n\nGate report: {gate_rel}"
    commit = git.commit_file(base_commit, path, render_manifest(doc), message)
    status = "created" if git.swap_ref(ref, commit) else "unchanged"
    if status == "unchanged":
        existing = git.rev(ref) or ""
        stale = git.is_ancestor(existing, base_commit) or (
            model_key(manifest_at(git, existing, params, env)) == model_key(current)
        )
        if stale and git.swap_ref(ref, commit, existing):
            status = "created"  # the old branch was merged (or is a no-op): reuse its name
        else:
            commit = _existing_branch(git, ref, params, env, key, branch)

    body = report.pull_request_body(
        environment=env,
        model=doc["model"],
        current=current.get("model"),
        gate_report=gate_report,
        card=_maybe_text(root / params.card),
        plots=_plots(root / params.plots_dir),
        artifacts_url=_artifacts_url(),
    )
    atomic.write_text(root / "reports" / "promotion" / f"{env}.md", body)
    _append_summary(report.gate_table(gate_report))
    if push:
        # The lease makes the remote update a compare-and-swap as well.
        try:
            lease = f"--force-with-lease={ref}:{remote_seen or ''}"
            git.run("push", lease, params.remote, f"{ref}:{ref}")
        except GitError as exc:
            raise PromotionRefused(
                f"{env}: push of {branch} to {params.remote} was rejected; another promotion to "
                f"{env} got there first ({exc})"
            ) from None
    number = None
    if github is not None:
        title = f"Promote {cand.name} {cand.version} to {env}"
        pull, _ = github.open_pull(branch, base, title, body)
        number = int(pull["number"])
        comment = (
            report.metrics_table(
                cand.metrics, (current.get("model") or {}).get("evaluation", {}).get("metrics")
            )
            + "\n"
            + report.gate_table(gate_report)
        )
        github.upsert_comment(number, params.report_marker, comment)
    return PromotionResult(env, branch, commit, status, body, number, cand.version)


def _existing_branch(
    git: Git, ref: str, params: DeliveryParams, env: str, key: tuple[str, str, str], branch: str
) -> str:
    """Accept an existing promotion branch only if it promotes the very same model."""
    commit = git.rev(ref)
    if commit is None:  # pragma: no cover - the CAS failed, so the ref exists
        raise PromotionRefused(f"{branch}: could not create the branch")
    there = model_key(manifest_at(git, commit, params, env))
    if there != key:
        shown = f"{there[0]} {there[1]}" if there else "an empty manifest"
        raise PromotionRefused(
            f"{env}: another promotion is in progress on branch {branch} ({shown}); "
            f"merge or close it, then delete the branch"
        )
    return commit


def _maybe_text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _plots(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
