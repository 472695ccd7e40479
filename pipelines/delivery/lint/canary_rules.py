"""Checks of prod's canary design (mirror first, then instrument groups live) and its analysis.

Each function returns ``(where, message)`` pairs, ``where`` relative to the Rollout's
``spec``. They complement the generic Rollout checks of :mod:`rollout_rules`:

- the canary's share never goes down: ``setWeight`` values, ``setCanaryScale`` weights and the
  instrument groups of successive ``setHeaderRoute`` steps only grow (50% before 25% is an
  error), and settings.yaml's ``instrument_groups`` grow too;
- the mirror comes first: a ``setMirrorRoute`` of every instrument precedes the first header
  route, and ``managedRoutes`` lists it after every header route (Argo orders the
  VirtualService's managed routes that way; listed first, it would catch the routed
  instruments too and they would never go live to the canary);
- each analysis compares pairwise exactly the instruments not yet routed (``instruments`` of the
  trading-KPI template = settings' instruments minus the routed group) and uses the
  service-level template; once every instrument is routed, only the service-level template;
- the strategy is what :mod:`pipelines.delivery.canary` generates from settings.yaml.
"""

from __future__ import annotations

from typing import Any

from pipelines.delivery import canary
from pipelines.errors import ConfigError

Problems = list[tuple[str, str]]


def _route_instruments(route: dict[str, Any]) -> set[str] | None:
    names: set[str] = set()
    for match in route.get("match") or []:
        value = match.get("headerValue") or (match.get("headers") or {}).get(canary.HEADER) or {}
        if "exact" in value:
            names.add(str(value["exact"]))
        elif "regex" in value:
            parsed = canary.instruments_of(str(value["regex"]))
            if parsed is None:
                return None
            names |= parsed
        else:
            return None
    return names


def share_never_decreases(steps: list[dict[str, Any]], settings: dict[str, Any]) -> Problems:
    """The canary's weight, scale weight and routed instrument set only grow."""
    found: Problems = []
    last_weight: tuple[int, int] | None = None
    last_scale: tuple[int, int] | None = None
    last_route: tuple[int, str, set[str]] | None = None
    for index, step in enumerate(steps):
        where = f"strategy.canary.steps[{index}]"
        if isinstance(step.get("setWeight"), int):
            weight = step["setWeight"]
            if last_weight and weight < last_weight[1]:
                found.append(
                    (
                        where,
                        f"setWeight {weight} after setWeight {last_weight[1]} at "
                        f"steps[{last_weight[0]}]: the canary's share must not go down",
                    )
                )
            last_weight = (index, weight)
        scale = (step.get("setCanaryScale") or {}).get("weight")
        if isinstance(scale, int):
            if last_scale and scale < last_scale[1]:
                found.append(
                    (
                        where,
                        f"setCanaryScale weight {scale} after {last_scale[1]} at "
                        f"steps[{last_scale[0]}]: the canary's share must not go down",
                    )
                )
            last_scale = (index, scale)
        route = step.get("setHeaderRoute")
        if route and route.get("match"):
            names = _route_instruments(route)
            if names is not None and last_route is not None and not last_route[2] <= names:
                found.append(
                    (
                        where,
                        f"setHeaderRoute {route.get('name')!r} routes {len(names)} "
                        f"instrument(s) after {last_route[1]!r} at steps[{last_route[0]}] routed "
                        f"{len(last_route[2])}: each group must contain the previous one (the "
                        "canary's share must not go down)",
                    )
                )
            if names is not None:
                last_route = (index, str(route.get("name")), names)
    weights = [int(g.get("weight", 0)) for g in settings.get("instrument_groups") or []]
    for n in range(1, len(weights)):
        if weights[n] <= weights[n - 1]:
            found.append(
                (
                    "strategy.canary.steps",
                    f"settings.yaml instrument_groups[{n}] weight "
                    f"{weights[n]} is not above instrument_groups[{n - 1}] weight {weights[n - 1]}",
                )
            )
    return found


def mirror_first(canary_spec: dict[str, Any], settings: dict[str, Any]) -> Problems:
    """Every instrument is mirrored before the first header route, with lower precedence."""
    steps = canary_spec.get("steps") or []
    header_at = [i for i, s in enumerate(steps) if "setHeaderRoute" in s]
    mirror_at = [i for i, s in enumerate(steps) if "setMirrorRoute" in s]
    if not header_at:
        return []
    found: Problems = []
    if not mirror_at or mirror_at[0] > header_at[0]:
        found.append(
            (
                f"strategy.canary.steps[{header_at[0]}]",
                "a setMirrorRoute of every instrument "
                "must come before the first setHeaderRoute (the trading KPIs need the canary to "
                "see the stable's bars as shadow traffic)",
            )
        )
        return found
    mirror = steps[mirror_at[0]]["setMirrorRoute"]
    mirrored = _route_instruments(mirror)
    wanted = {str(i) for i in settings.get("instruments") or []}
    if wanted and mirrored != wanted:
        found.append(
            (
                f"strategy.canary.steps[{mirror_at[0]}]",
                f"setMirrorRoute {mirror.get('name')!r} must mirror every instrument of "
                f"settings.yaml ({canary.instrument_regex(sorted(wanted))})",
            )
        )
    if int(mirror.get("percentage", 100)) != 100:
        found.append(
            (
                f"strategy.canary.steps[{mirror_at[0]}]",
                "setMirrorRoute percentage must be 100 "
                "(pairwise KPIs need every bar on both sides)",
            )
        )
    managed = [
        r.get("name") for r in (canary_spec.get("trafficRouting") or {}).get("managedRoutes") or []
    ]
    headers = {steps[i]["setHeaderRoute"].get("name") for i in header_at}
    name = mirror.get("name")
    if name in managed and any(
        h in managed and managed.index(h) > managed.index(name) for h in headers
    ):
        found.append(
            (
                "strategy.canary.trafficRouting.managedRoutes",
                f"mirror route {name!r} is listed "
                "before a header route: Argo orders the VirtualService's routes by this list, so "
                "the routed instruments would only be mirrored, never sent live to the canary",
            )
        )
    return found


def paired_instruments(steps: list[dict[str, Any]], settings: dict[str, Any]) -> Problems:
    """Each analysis pairs the instruments not yet routed; service level always."""
    everything = {str(i) for i in settings.get("instruments") or []}
    routed: set[str] = set()
    found: Problems = []
    for index, step in enumerate(steps):
        route = step.get("setHeaderRoute")
        if route and route.get("match"):
            routed |= _route_instruments(route) or set()
        analysis = step.get("analysis")
        if not analysis:
            continue
        where = f"strategy.canary.steps[{index}].analysis"
        names = [t.get("templateName") for t in analysis.get("templates") or []]
        if canary.SERVICE_TEMPLATE not in names:
            found.append((where, f"must reference the {canary.SERVICE_TEMPLATE} template"))
        left = sorted(everything - routed)
        args = {a.get("name"): a for a in analysis.get("args") or []}
        if canary.KPI_TEMPLATE in names:
            if not left:
                found.append(
                    (
                        where,
                        "every instrument is routed to the canary: nothing is left to pair, "
                        f"{canary.KPI_TEMPLATE} would only ever be Inconclusive (service "
                        "level only)",
                    )
                )
                continue
            got = (args.get("instruments") or {}).get("value")
            given = canary.instruments_of(str(got or ""))
            if given != set(left):
                found.append(
                    (
                        where,
                        "arg instruments must be the instruments not yet routed "
                        f"({canary.instrument_regex(left)}), got {got!r}",
                    )
                )
        elif left and everything:
            found.append(
                (
                    where,
                    f"{len(left)} instrument(s) are not routed yet: the analysis must compare "
                    f"them pairwise with {canary.KPI_TEMPLATE}",
                )
            )
    return found


def generated(strategy: dict[str, Any], settings: dict[str, Any]) -> Problems:
    """The rendered strategy must be what ``pipelines.delivery.canary`` writes from settings."""
    try:
        patch = canary.strategy_patch(settings)
    except (ConfigError, KeyError, ValueError) as exc:
        return [("strategy", f"settings.yaml cannot generate the strategy: {exc}")]
    expected = next(op["value"] for op in patch if op["path"] == "/spec/strategy")
    path = _first_difference(expected, strategy, "strategy")
    if path is None:
        return []
    return [
        (
            path,
            "differs from what `python -m pipelines.delivery.canary` generates from "
            "settings.yaml (regenerate strategy.yaml)",
        )
    ]


def _first_difference(expected: Any, actual: Any, path: str) -> str | None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in list(expected) + [k for k in actual if k not in expected]:
            found = _first_difference(expected.get(key), actual.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for i in range(max(len(expected), len(actual))):
            left = expected[i] if i < len(expected) else None
            right = actual[i] if i < len(actual) else None
            found = _first_difference(left, right, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if expected == actual else path
