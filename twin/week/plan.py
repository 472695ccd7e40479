"""The steps of the week, in the order the issue lists them."""

from __future__ import annotations

from twin.week import data_nights
from twin.week.context import Week
from twin.week.steps import Step

STEPS: list[Step[Week]] = [
    Step("night 1: data.yml", lambda w: data_nights.nightly(w, 1)),
    Step(
        "night 2: data.yml (only the new bars)",
        lambda w: data_nights.nightly(w, 2, restore=True),
    ),
    Step("failed night: DataPipelineFailed pages", data_nights.failed_night),
]
