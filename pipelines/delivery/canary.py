"""Canary by instrument: the header routes that prod's Rollout must use, from settings.yaml.

Each ``instrument_groups`` entry becomes one managed route ``instruments-<weight>`` that sends
requests whose ``X-Instrument`` header names one of the group's instruments to the canary.
Pure functions; ``pipelines lint`` compares the rendered Rollout against them.
"""

from __future__ import annotations

import re
from typing import Any

HEADER = "X-Instrument"


def route_name(weight: int) -> str:
    """Managed-route name of the group that covers ``weight`` percent of instruments."""
    return f"instruments-{weight}"


def instrument_regex(instruments: list[str]) -> str:
    """An anchored regex matching exactly these instrument names."""
    return "^(" + "|".join(re.escape(name) for name in instruments) + ")$"


def expected_routes(settings: dict[str, Any]) -> dict[str, set[str]]:
    """``{route name: instruments}`` for every instrument group of an environment."""
    groups = settings.get("instrument_groups") or []
    return {route_name(int(g["weight"])): set(g["instruments"]) for g in groups}


def instruments_of(regex: str) -> set[str] | None:
    """Instruments named by a regex built like :func:`instrument_regex` (None otherwise)."""
    match = re.fullmatch(r"\^\(([^()]*)\)\$", regex)
    if not match:
        return None
    return {re.sub(r"\\(.)", r"\1", part) for part in match.group(1).split("|")}


def canary_steps(settings: dict[str, Any], analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The canary steps for an environment's instrument groups (used to write the prod patch).

    Args:
        settings: Loaded settings.yaml.
        analysis: The ``analysis`` step body run after each group.
    """
    steps: list[dict[str, Any]] = []
    replicas = int(settings.get("replicas", 1))
    for group in settings.get("instrument_groups") or []:
        weight = int(group["weight"])
        scale = max(1, round(replicas * weight / 100))
        steps.append({"setCanaryScale": {"replicas": scale}})
        steps.append(
            {
                "setHeaderRoute": {
                    "name": route_name(weight),
                    "match": [
                        {
                            "headerName": HEADER,
                            "headerValue": {"regex": instrument_regex(group["instruments"])},
                        }
                    ],
                }
            }
        )
        steps.append({"analysis": analysis})
    return steps
