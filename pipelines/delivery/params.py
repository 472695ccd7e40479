"""Typed params for promotion, rollback and delivery (owned by the delivery work)."""

from __future__ import annotations

from pydantic import Field

from pipelines.params_base import StrictModel


class DeliveryParams(StrictModel):
    """Promotion and rollback settings.

    Attributes:
        environments: Promotion order; a unit reaches an environment only after it ran
            successfully in the one before (deployed and not rolled back, from the registry).
        environments_dir: Folder holding ``<env>/model.yaml`` and ``<env>/settings.yaml``.
        candidate: The training output that names the candidate model and its gate reports.
        card: Model card rendered into the pull-request body.
        plots_dir: Plots listed in the pull-request body (uploaded as workflow artifacts).
        base_branch: Branch that promotion pull requests target and history is read from.
        branch_prefix: Promotion branches are ``<prefix>/<env>``: one open promotion per env.
        rollback_branch_prefix: Rollback branches are ``<prefix>/<env>/<version>``.
        remote: Git remote pushed to when ``--push`` is given.
        github_api_url: GitHub REST endpoint (GITHUB_API_URL overrides it in Actions).
        mlflow_tracking_uri: Registry of promotion, deployment and rollback
            (MLFLOW_TRACKING_URI overrides it). Tag names: :mod:`pipelines.registry.tags`.
        report_marker: Hidden marker of the one report comment updated in place.
        validate_command: Command that re-validates restored data before it is swapped in
            (``restore-data``); ``{params}`` is the restored revision's params file.
        restore_stage: ``restore-data`` restores this stage's outputs and its upstream ones'.
    """

    environments: list[str] = Field(default_factory=lambda: ["dev", "staging", "prod"])
    environments_dir: str = "environments"
    candidate: str = "models/candidate.json"
    card: str = "models/card.md"
    plots_dir: str = "models/plots"
    base_branch: str = "main"
    branch_prefix: str = "promote"
    rollback_branch_prefix: str = "rollback"
    remote: str = "origin"
    github_api_url: str = "https://api.github.com"
    mlflow_tracking_uri: str = "sqlite:///mlflow.db"
    report_marker: str = "<!-- pipelines:promotion-report -->"
    validate_command: list[str] = Field(
        default_factory=lambda: [
            "python",
            "-m",
            "pipelines",
            "--params",
            "{params}",
            "data",
            "validate",
        ]
    )
    restore_stage: str = "data_health"
