"""The delivery strategy of staging and prod, generated from their settings.yaml.

Prod (canary by instrument, mirrored first):

1. ``setCanaryScale`` then ``setMirrorRoute`` ``mirror-all``: every instrument's requests keep
   going to the stable version and are copied to the canary (Istio ``mirror``, Host
   ``<host>-shadow``; answers discarded), so the canary computes signals and paper returns on
   exactly the stable's bars;
2. per ``instrument_groups`` entry: ``setCanaryScale``, ``setHeaderRoute instruments-<weight>``
   (the group's ``X-Instrument`` values go live to the canary), then an ``analysis`` step with
   two templates: service level (errors, p99, breaker trips) of the canary, and trading KPIs
   compared pairwise, canary (shadow) vs stable (live), on the instruments NOT yet routed
   (same instruments, same bars); the last group (100%) routes every instrument, so its
   analysis is service level only (the post-switch watch).

Header routes are listed before the mirror route in ``managedRoutes`` (Argo orders the managed
routes of the VirtualService that way), so a routed instrument goes live to the canary and the
others are mirrored. Step windows come from ``schedule:`` in settings.yaml (the twin profile
shortens them there). Staging (blue/green): pre-promotion analysis with both templates, preview
(shadow, mirrored by staging's VirtualService) vs active (live) on every instrument;
post-promotion analysis service level only.

Public API: :func:`write_strategy` (used by the twin profile), :func:`strategy_patch`,
:func:`canary_steps`, :func:`blue_green`, :func:`analysis_args`, and the helpers lint uses.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from pipelines.delivery.canary_analysis import (
    HEADER,
    KPI_TEMPLATE,
    SERVICE_TEMPLATE,
    Window,
    analysis_args,
    arg_name,
    instrument_regex,
    instruments_of,
    schedule,
    since,
)
from pipelines.errors import ConfigError
from pipelines.io import atomic

__all__ = [
    "HEADER",
    "KPI_TEMPLATE",
    "MIRROR_ROUTE",
    "SERVICE_TEMPLATE",
    "analysis_args",
    "arg_name",
    "blue_green",
    "canary",
    "canary_steps",
    "expected_routes",
    "instrument_regex",
    "instruments_of",
    "route_name",
    "strategy_patch",
    "write_strategy",
]

MIRROR_ROUTE = "mirror-all"
CANARY_SCHEDULE = ("interval", "resolution", "first_step", "step", "post_switch")
BLUE_GREEN_SCHEDULE = ("interval", "resolution", "pre_promotion", "post_promotion")
STRATEGY_FILE = "strategy.yaml"


def route_name(weight: int) -> str:
    """Managed-route name of the group that covers ``weight`` percent of instruments."""
    return f"instruments-{weight}"


def expected_routes(settings: dict[str, Any]) -> dict[str, set[str]]:
    """``{route name: instruments}`` for every instrument group of an environment."""
    groups = settings.get("instrument_groups") or []
    return {route_name(int(g["weight"])): set(g["instruments"]) for g in groups}


def _groups(settings: dict[str, Any], source: str) -> list[tuple[int, list[str]]]:
    groups = settings.get("instrument_groups")
    if not isinstance(groups, list) or not groups:
        raise ConfigError(f"{source}: instrument_groups: expected a non-empty list")
    out = []
    for n, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("instruments"), list):
            raise ConfigError(f"{source}: instrument_groups[{n}]: expected weight and instruments")
        out.append((int(group.get("weight", 0)), [str(i) for i in group["instruments"]]))
    return out


def canary_steps(settings: dict[str, Any], source: str = "settings.yaml") -> list[dict[str, Any]]:
    """Prod's steps: scale, mirror every instrument, then route and analyse group by group."""
    instruments = [str(i) for i in settings.get("instruments") or []]
    plan = schedule(settings, CANARY_SCHEDULE, source)
    replicas = int(settings.get("replicas", 1))
    groups = _groups(settings, source)
    steps: list[dict[str, Any]] = [
        {"setCanaryScale": {"replicas": max(1, round(replicas * groups[0][0] / 100))}},
        {
            "setMirrorRoute": {
                "name": MIRROR_ROUTE,
                "percentage": 100,
                "match": [{"headers": {HEADER: {"regex": instrument_regex(instruments)}}}],
            }
        },
    ]
    keys = [
        "first_step" if n == 0 else ("post_switch" if n == len(groups) - 1 else "step")
        for n in range(len(groups))
    ]
    for n, (weight, routed) in enumerate(groups):
        window = Window(plan[keys[n]], plan["interval"], since(plan, keys), plan["resolution"])
        paired = [i for i in instruments if i not in set(routed)]
        if n > 0:  # the first group's scale is the one before the mirror
            steps.append({"setCanaryScale": {"replicas": max(1, round(replicas * weight / 100))}})
        steps.append(
            {
                "setHeaderRoute": {
                    "name": route_name(weight),
                    "match": [
                        {"headerName": HEADER, "headerValue": {"regex": instrument_regex(routed)}}
                    ],
                }
            }
        )
        steps.append({"analysis": analysis_args(settings, window, paired or None, source=source)})
    return steps


def canary(settings: dict[str, Any], source: str = "settings.yaml") -> dict[str, Any]:
    """Prod's ``spec.strategy.canary``."""
    groups = _groups(settings, source)
    managed = [{"name": route_name(w)} for w, _ in groups] + [{"name": MIRROR_ROUTE}]
    return {
        "stableService": "strategy-service",
        "canaryService": "strategy-service-canary",
        "abortScaleDownDelaySeconds": int(settings.get("abort_scale_down_delay_seconds", 30)),
        "trafficRouting": {
            "managedRoutes": managed,
            "istio": {"virtualService": {"name": "strategy-service", "routes": ["primary"]}},
        },
        "steps": canary_steps(settings, source),
    }


def blue_green(settings: dict[str, Any], source: str = "settings.yaml") -> dict[str, Any]:
    """Staging's ``spec.strategy.blueGreen``."""
    plan = schedule(settings, BLUE_GREEN_SCHEDULE, source)
    instruments = [str(i) for i in settings.get("instruments") or []]
    span = since(plan, ["pre_promotion", "post_promotion"])
    pre = Window(plan["pre_promotion"], plan["interval"], span, plan["resolution"])
    post = Window(plan["post_promotion"], plan["interval"], span, plan["resolution"])
    return {
        "activeService": "strategy-service",
        "previewService": "strategy-service-preview",
        "autoPromotionEnabled": bool(settings.get("auto_promotion_enabled", True)),
        "scaleDownDelaySeconds": int(settings.get("scale_down_delay_seconds", 30)),
        "abortScaleDownDelaySeconds": int(settings.get("abort_scale_down_delay_seconds", 30)),
        "prePromotionAnalysis": analysis_args(settings, pre, instruments, source=source),
        "postPromotionAnalysis": analysis_args(settings, post, None, source=source),
    }


def strategy_patch(settings: dict[str, Any], source: str = "settings.yaml") -> list[dict[str, Any]]:
    """The JSON 6902 patch of the Rollout for an environment's ``strategy:`` setting.

    Raises:
        ConfigError: A plain rollout (dev) has no generated strategy, or settings are invalid.
    """
    kind = settings.get("strategy")
    replicas = {"op": "replace", "path": "/spec/replicas", "value": int(settings["replicas"])}
    if kind == "canary":
        return [
            {
                "op": "replace",
                "path": "/spec/strategy",
                "value": {"canary": canary(settings, source)},
            },
            {"op": "add", "path": "/spec/progressDeadlineAbort", "value": True},
            {"op": "add", "path": "/spec/rollbackWindow", "value": {"revisions": 3}},
            replicas,
        ]
    if kind == "blueGreen":
        value = {"blueGreen": blue_green(settings, source)}
        return [{"op": "replace", "path": "/spec/strategy", "value": value}]
    raise ConfigError(f"{source}: strategy {kind!r} has no generated strategy file")


HEAD = """# GENERATED from settings.yaml (python -m pipelines.delivery.canary {env}): do not edit.
# See pipelines/delivery/canary.py for the design (mirror first, then instrument groups live;
# service-level analysis of the canary and trading KPIs paired canary-shadow vs stable-live on
# the instruments not yet routed). pipelines lint checks this file against settings.yaml.
"""


def write_strategy(env_dir: Path, settings: dict[str, Any] | None = None) -> Path | None:
    """Regenerate ``<env_dir>/strategy.yaml`` from the environment's settings (atomically).

    Args:
        env_dir: ``environments/<env>``.
        settings: The settings to use (the twin profile passes its merged ones); default: read
            ``<env_dir>/settings.yaml``.

    Returns:
        The file written, or None for an environment without a generated strategy (dev).

    Raises:
        ConfigError: Invalid settings (one line naming the file and key).
    """
    source = env_dir / "settings.yaml"
    if settings is None:
        try:
            settings = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{source}: cannot read settings ({exc})") from None
    if settings.get("strategy") not in ("canary", "blueGreen"):
        return None
    patch = strategy_patch(settings, str(source))
    text = HEAD.format(env=f"environments/{env_dir.name}")
    text += yaml.safe_dump(patch, sort_keys=False, width=100)
    target = env_dir / STRATEGY_FILE
    atomic.write_text(target, text)
    return target


def main(argv: list[str]) -> int:
    """Regenerate the strategy files of the given environment folders."""
    for folder in argv or ["environments/staging", "environments/prod"]:
        written = write_strategy(Path(folder))
        sys.stdout.write(f"{written or folder + ': no generated strategy'}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
