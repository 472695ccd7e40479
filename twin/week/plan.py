"""The steps of the week, in the order the issue lists them.

Nights, trainings, the dev deploy that follows a training (Sunday), the promotion pull
requests (git and CI only), the weekly report and the recovery drill run while the market is
closed: the staging and prod feeds pause (``_closed``) and go on for the deploys that analyse
live bars, the drift that pages and the hourly feature health.
Models: A (nights 1-2) goes dev -> staging -> prod as each environment's first deploy; B
(night 3) is the candidate that walks staging's blue/green and prod's canary; C (night 4) is
the bad candidate. Deploys of staging and prod read the market feed's live bars.
"""

from __future__ import annotations

from collections.abc import Callable

from twin.week import (
    cluster_training,
    data_cluster,
    data_nights,
    delivery,
    disaster,
    doctor,
    health,
    rollbacks,
    training,
)
from twin.week.context import Week
from twin.week.steps import Step


def _closed(week: Week, run: Callable[[], str]) -> str:
    return delivery.while_market_closed(week, run)


def _dev(model: str) -> list[Step[Week]]:
    return [
        Step(
            f"dev PR of {model}: CI runs on it, the person merges",
            lambda w: _closed(w, lambda: training.ci_and_merge(w, "dev_pr", "dev")),
        ),
        Step(
            f"deploy dev ({model}): deploy.yml, Argo, pods",
            lambda w: _closed(w, lambda: delivery.deploy_after_merge(w, "dev", "dev_pr_merge")),
        ),
    ]


STEPS: list[Step[Week]] = [
    Step("night 1: data.yml", lambda w: data_nights.nightly(w, 1)),
    Step(
        "night 2: data.yml (only the new bars)",
        lambda w: data_nights.nightly(w, 2, restore=True),
    ),
    Step("feature-health.yml before prod has a model: a notice", health.hourly_without_model),
    Step("image.yml: service and tools images by digest", training.build_images),
    Step("train.yml (A): train, gates, card, register, dev PR", training.weekly_training),
    Step("register the same bundle again: same version", training.register_again),
    Step("pipelines doctor against the twin: nothing missing", doctor.doctor),
    *_dev("A"),
    Step(
        "promote A to staging: promote.yml PR, CI, merge",
        lambda w: delivery.promote(w, "staging", "A ran in dev"),
    ),
    Step(
        "deploy staging (A, first deploy)",
        lambda w: delivery.deploy_after_merge(w, "staging", "staging_pr_merge"),
    ),
    Step(
        "promote A to prod: promote.yml PR, CI, merge",
        lambda w: delivery.promote(w, "prod", "A ran in staging"),
    ),
    Step(
        "deploy prod (A, first deploy)",
        lambda w: delivery.deploy_after_merge(w, "prod", "prod_pr_merge"),
    ),
    Step(
        "market feed: live bars to staging and prod",
        lambda w: delivery.start_feed(w, "staging") + "; " + delivery.start_feed(w, "prod"),
    ),
    Step(
        "night 3 on Argo: data-pipeline, features fanned out (commits nothing)",
        lambda w: _closed(w, lambda: data_cluster.cluster_night(w, 3)),
    ),
    Step(
        "night 3: data.yml (the cluster's features; one process's bytes)",
        lambda w: _closed(
            w,
            lambda: data_nights.nightly(w, 3) + data_cluster.same_as_cluster_and_one_process(w, 3),
        ),
    ),
    Step(
        "train.yml (B): a new model, dev PR",
        lambda w: _closed(w, lambda: training.weekly_training(w)),
    ),
    *_dev("B"),
    Step(
        "promote B to staging: PR, CI, merge",
        lambda w: _closed(w, lambda: delivery.promote(w, "staging", "B ran in dev")),
    ),
    Step(
        "staging blue/green (B): preview analysed, switch, delay",
        lambda w: delivery.blue_green(w, "staging_pr_merge"),
    ),
    Step(
        "promote B to prod: PR, CI, merge",
        lambda w: _closed(w, lambda: delivery.promote(w, "prod", "B ran in staging")),
    ),
    Step("prod canary (B): 5 -> 25 -> 50 -> 100%", lambda w: delivery.canary(w, "prod_pr_merge")),
    Step("night 4: data.yml", lambda w: _closed(w, lambda: data_nights.nightly(w, 4))),
    Step(
        "train.yml (C): the bad candidate, dev PR",
        lambda w: _closed(w, lambda: training.weekly_training(w)),
    ),
    *_dev("C"),
    Step(
        "promote C to staging: PR, CI, merge",
        lambda w: _closed(w, lambda: delivery.promote(w, "staging", "C ran in dev")),
    ),
    Step(
        "staging blue/green (C)",
        lambda w: delivery.blue_green(w, "staging_pr_merge"),
    ),
    Step(
        "bad C in prod: canary aborts, automatic rollback to B",
        rollbacks.bad_candidate_in_prod,
    ),
    Step(
        "manual rollback: rollback.yml PR (git revert), merge, prod at A", rollbacks.manual_rollback
    ),
    Step(
        "failed night: DataPipelineFailed pages",
        lambda w: _closed(w, lambda: data_nights.failed_night(w)),
    ),
    Step("drift in live features: FeaturePSICritical pages", health.drift_pages),
    Step("hourly feature health on prod: feature-health.yml", health.hourly_check),
    Step("weekly report: weekly-report.yml", lambda w: _closed(w, lambda: health.weekly_report(w))),
    Step(
        "disaster recovery: MLflow database and DVC cache lost, the runbook's blocks",
        lambda w: _closed(w, lambda: disaster.disaster_recovery(w)),
    ),
    # Last: it registers what it trains, and the steps above count the model versions.
    Step(
        "training on Argo: tune-worker and train-splits pods; one process's bytes",
        lambda w: _closed(w, lambda: cluster_training.cluster_training(w)),
    ),
]
