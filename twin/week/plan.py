"""The steps of the week, in the order the issue lists them."""

from __future__ import annotations

from twin.week import data_nights, delivery, training
from twin.week.context import Week
from twin.week.steps import Step

STEPS: list[Step[Week]] = [
    Step("night 1: data.yml", lambda w: data_nights.nightly(w, 1)),
    Step(
        "night 2: data.yml (only the new bars)",
        lambda w: data_nights.nightly(w, 2, restore=True),
    ),
    Step("image.yml: service and tools images by digest", training.build_images),
    Step("train.yml: train, gates, card, register, dev PR", training.weekly_training),
    Step("register the same bundle again: same version", training.register_again),
    Step(
        "dev PR: CI runs on it, the person merges",
        lambda w: training.ci_and_merge(w, "dev_pr", "dev"),
    ),
    Step(
        "deploy dev: deploy.yml, Argo, pods",
        lambda w: delivery.deploy_after_merge(w, "dev", "dev_pr_merge"),
    ),
    Step("failed night: DataPipelineFailed pages", data_nights.failed_night),
]
