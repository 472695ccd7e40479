"""``pipelines promote --to ENV``: turn a candidate that passed ENV's gate into a pull request.

The promotion branch is ``<prefix>/<env>``: one open promotion per environment. Its commit is
built on the base branch and changes only ``environments/<env>/model.yaml``: the promoted unit,
model and image (see :mod:`pipelines.delivery.unit`). Re-running with the same unit changes
nothing; a different one while the branch exists fails clearly, and the branch is created by
compare-and-swap so two racing promotions cannot both win. The command refuses a working tree
with uncommitted changes up front and never touches the working tree itself.

Evidence (``candidate.json``, the gate reports, the card and plots) is read from ``--evidence``
(default: the repository), laid out as in the repository; the gate report must have judged the
bundle promoted, and the manifest records the sha256 of the report bytes that were checked.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.delivery import report
from pipelines.delivery.candidate import check_gate, parse_candidate, read_evidence, read_json
from pipelines.delivery.digests import ModelRegistry
from pipelines.delivery.github import GitHubClient
from pipelines.delivery.gitops import Git, GitError
from pipelines.delivery.params import DeliveryParams
from pipelines.delivery.unit import (
    PromotionRefused,
    Unit,
    build_manifest,
    check_deployable,
    from_candidate,
    from_previous,
)
from pipelines.io import atomic
from pipelines.registry.manifest import empty_manifest, parse_manifest, render_manifest, unit_key

log = logging.getLogger(__name__)

__all__ = ["PromotionRefused", "PromotionResult", "build_manifest", "manifest_at", "promote"]


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
    evidence: Path | None = None,
    base: str | None = None,
    push: bool = False,
    github: GitHubClient | None = None,
    registry: ModelRegistry | None = None,
    now: datetime | None = None,
) -> PromotionResult:
    """Promote the current candidate to ``env`` as a branch (and pull request).

    Raises:
        DirtyTree: Tracked files have uncommitted changes (nothing is done).
        PromotionRefused: Out of order, not deployable, or another promotion to ``env`` is open.
        CandidateError: The candidate or its gate report is malformed or about another bundle.
        GateFailed: ``env``'s gate did not pass.
    """
    if env not in params.environments:
        raise PromotionRefused(f"--to {env}: expected one of {', '.join(params.environments)}")
    git = Git(root)
    git.require_clean(f"promote --to {env}")
    base = base or params.base_branch
    # A CI checkout of a commit (actions/checkout with `ref:`) has the base branch only as a
    # remote-tracking ref.
    base_commit = git.rev(base) or git.rev(f"refs/remotes/{params.remote}/{base}")
    if base_commit is None:
        raise PromotionRefused(
            f"base branch {base!r} does not exist in {root} (nor {params.remote}/{base})"
        )
    folder = evidence or root
    cand_file = folder / (candidate_path or Path(params.candidate))
    cand = parse_candidate(read_json(cand_file), str(cand_file))

    position = params.environments.index(env)
    if position == 0:
        source, unit = "training", from_candidate(cand, str(cand_file))
        check_deployable(unit, env, str(cand_file))
    else:
        source = params.environments[position - 1]
        previous = manifest_at(git, base_commit, params, source)
        unit = from_previous(env, source, previous, cand, registry)
        check_deployable(unit, env, f"{manifest_path(params, source)} on {base}")

    gate_rel = cand.gate_reports.get(env, f"reports/gates/{env}.json")
    gate = read_evidence(folder / gate_rel)
    check_gate(gate.report, env, gate_rel, unit.sha256)

    current = manifest_at(git, base_commit, params, env)
    branch = f"{params.branch_prefix}/{env}"
    if unit_key(current) == unit.key:
        log.info("%s already runs %s on %s: nothing to do", env, unit.label, base)
        return PromotionResult(
            env, branch, base_commit, "already-deployed", "", version=unit.version
        )

    doc = build_manifest(
        env,
        unit,
        gate.sha256,
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
    message = (
        f"Promote {unit.name} {unit.version} to {env}\n\nImage: {unit.image}\n"
        f"Gate report: {gate_rel} (sha256 {gate.sha256})"
    )
    commit = git.commit_file(base_commit, path, render_manifest(doc), message)
    status = "created" if git.swap_ref(ref, commit) else "unchanged"
    if status == "unchanged":
        existing = git.rev(ref) or ""
        stale = git.is_ancestor(existing, base_commit) or (
            unit_key(manifest_at(git, existing, params, env)) == unit_key(current)
        )
        if stale and git.swap_ref(ref, commit, existing):
            status = "created"  # the old branch was merged (or is a no-op): reuse its name
        else:
            commit = _existing_branch(git, ref, params, env, unit, branch)

    body = report.pull_request_body(
        environment=env,
        image=unit.image,
        model=doc["model"],
        current=current.get("model"),
        current_image=str(current.get("image", "")),
        gate_report=gate.report,
        card=_maybe_text(folder / params.card),
        plots=_plots(folder / params.plots_dir),
        artifacts_url=_artifacts_url(),
    )
    atomic.write_text(root / "reports" / "promotion" / f"{env}.md", body)
    _append_summary(report.gate_table(gate.report))
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
        title = f"Promote {unit.name} {unit.version} to {env}"
        pull, _ = github.open_pull(branch, base, title, body)
        number = int(pull["number"])
        comment = (
            report.metrics_table(
                unit.metrics, (current.get("model") or {}).get("evaluation", {}).get("metrics")
            )
            + "\n"
            + report.gate_table(gate.report)
        )
        github.upsert_comment(number, params.report_marker, comment)
    return PromotionResult(env, branch, commit, status, body, number, unit.version)


def _existing_branch(
    git: Git, ref: str, params: DeliveryParams, env: str, unit: Unit, branch: str
) -> str:
    """Accept an existing promotion branch only if it promotes the very same unit."""
    commit = git.rev(ref)
    if commit is None:  # pragma: no cover - the CAS failed, so the ref exists
        raise PromotionRefused(f"{branch}: could not create the branch")
    there = unit_key(manifest_at(git, commit, params, env))
    if there != unit.key:
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
