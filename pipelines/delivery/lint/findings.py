"""One lint finding: where it is and what is wrong, printed as one line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    """A problem found by lint.

    Attributes:
        source: File or overlay the problem is in.
        where: Object and field (``Rollout/strategy-service: spec.strategy.canary.steps[3]``).
        message: What is wrong and what was expected.
    """

    source: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.message}"
