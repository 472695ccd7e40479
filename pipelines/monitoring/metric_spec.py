"""The description of one exported Prometheus metric (see :mod:`metric_names`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    """Name, type, help text and label names of one exported metric."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
