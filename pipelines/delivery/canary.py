"""Canary by instrument: the header routes that prod's Rollout must use, from settings.yaml.

Each ``instrument_groups`` entry becomes one managed route ``instruments-<weight>`` that sends
requests whose ``X-Instrument`` header names one of the group's instruments to the canary.
Pure functions; ``pipelines lint`` compares the rendered Rollout against them.
"""

from __future__ import annotations

import re
from typing import Any

HEADER = "X-Instrument"
# The one AnalysisTemplate of environments/base/analysis (canary vs stable by pod-template hash).
TEMPLATE = "strategy-canary-analysis"


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


def threshold_args(settings: dict[str, Any]) -> list[dict[str, str]]:
    """Analysis args equal to an environment's ``analysis:`` thresholds (``_`` becomes ``-``)."""
    section = settings.get("analysis") or {}
    return [{"name": arg_name(key), "value": str(value)} for key, value in section.items()]


def arg_name(key: str) -> str:
    """The AnalysisTemplate arg of a settings.yaml ``analysis:`` key."""
    return key.replace("_", "-")


def analysis_step(
    settings: dict[str, Any], instruments: str | None = None, stable: str = "Stable"
) -> dict[str, Any]:
    """Body of an ``analysis`` step (or blue/green analysis) against :data:`TEMPLATE`.

    Args:
        settings: Loaded settings.yaml (its ``analysis:`` thresholds become args).
        instruments: Regex of the instruments routed to the canary; None keeps the template's
            default (every instrument).
        stable: ``podTemplateHashValue`` of the side the canary is compared with.
    """
    args: list[dict[str, Any]] = [
        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
        {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": stable}},
    ]
    if instruments is not None:
        args.append({"name": "instruments", "value": instruments})
    return {"templates": [{"templateName": TEMPLATE}], "args": args + threshold_args(settings)}


def canary_steps(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The canary steps for an environment's instrument groups (used to write the prod patch).

    Each group scales the canary, routes the group's instruments to it, then analyses the canary
    against the stable version on exactly those instruments.
    """
    steps: list[dict[str, Any]] = []
    replicas = int(settings.get("replicas", 1))
    for group in settings.get("instrument_groups") or []:
        weight = int(group["weight"])
        scale = max(1, round(replicas * weight / 100))
        regex = instrument_regex(group["instruments"])
        steps.append({"setCanaryScale": {"replicas": scale}})
        steps.append(
            {
                "setHeaderRoute": {
                    "name": route_name(weight),
                    "match": [{"headerName": HEADER, "headerValue": {"regex": regex}}],
                }
            }
        )
        steps.append({"analysis": analysis_step(settings, regex)})
    return steps
