"""The Istio VirtualService routes Argo Rollouts manages (rollout/trafficrouting/istio/istio.go).

- ``setWeight``: the destinations of the routes named in ``trafficRouting.istio.virtualService
  .routes`` get weight ``100 - w`` (stable Service) and ``w`` (canary Service).
- ``setHeaderRoute``: a route ``{name, match: [{headers: {H: {exact|regex|prefix}}}], route:
  [canary, weight 100]}`` replaces any route of that name, appended.
- ``setMirrorRoute``: ``{name, match, route: <the weighted route's destinations>, mirror:
  {host: canary}, mirrorPercentage: {value: p}}`` replaces any route of that name, prepended.
- After each change the managed routes are ordered as ``managedRoutes`` lists them, above the
  routes Argo does not manage (``orderRoutes``); ``RemoveManagedRoutes`` deletes every route a
  step names (on full promotion, on abort, and while the canary has no available pod).
"""

from __future__ import annotations

import copy
from typing import Any

from twin.cluster.interfaces import Obj, ObjectStore


def _istio(rollout: Obj) -> dict[str, Any]:
    canary = (rollout["spec"].get("strategy") or {}).get("canary") or {}
    return ((canary.get("trafficRouting") or {}).get("istio") or {}).get("virtualService") or {}


def _services(rollout: Obj) -> tuple[str, str]:
    canary = (rollout["spec"].get("strategy") or {}).get("canary") or {}
    return str(canary.get("stableService", "")), str(canary.get("canaryService", ""))


def _managed(rollout: Obj) -> list[str]:
    canary = (rollout["spec"].get("strategy") or {}).get("canary") or {}
    return [r["name"] for r in (canary.get("trafficRouting") or {}).get("managedRoutes") or []]


def virtual_service(store: ObjectStore, rollout: Obj) -> Obj | None:
    """The VirtualService the Rollout routes through (None without Istio routing)."""
    name = str(_istio(rollout).get("name", ""))
    if not name:
        return None
    vs_name, _, namespace = name.partition(".")
    return store.get(
        "VirtualService", namespace or rollout["metadata"].get("namespace", ""), vs_name
    )


def _http(vs: Obj) -> list[Obj]:
    return list((vs.get("spec") or {}).get("http") or [])


def _weighted_route(rollout: Obj, http: list[Obj]) -> list[Obj]:
    names = _istio(rollout).get("routes") or []
    for route in http:
        if route.get("name") in names or (not names and len(http) == 1):
            return copy.deepcopy(route.get("route") or [])
    return []


def _order(rollout: Obj, http: list[Obj]) -> list[Obj]:
    managed = _managed(rollout)
    ordered = [r for name in managed for r in http if r.get("name") == name]
    return ordered + [r for r in http if r.get("name") not in managed]


def _save(store: ObjectStore, vs: Obj, http: list[Obj]) -> None:
    if http != _http(vs):
        new = copy.deepcopy(vs)
        new.setdefault("spec", {})["http"] = http
        store.apply(new)


def set_weight(store: ObjectStore, rollout: Obj, weight: int) -> None:
    """Canary weight ``weight`` (stable ``100 - weight``) on the Rollout's routes."""
    vs = virtual_service(store, rollout)
    if vs is None:
        return
    stable, canary = _services(rollout)
    names = _istio(rollout).get("routes") or []
    http = copy.deepcopy(_http(vs))
    for route in http:
        if names and route.get("name") not in names:
            continue
        for dest in route.get("route") or []:
            host = (dest.get("destination") or {}).get("host")
            if host == stable:
                dest["weight"] = 100 - weight
            elif host == canary:
                dest["weight"] = weight
    _save(store, vs, http)


def set_header_route(store: ObjectStore, rollout: Obj, step: Obj) -> None:
    """Add (or replace) a managed header route to the canary Service."""
    vs = virtual_service(store, rollout)
    if vs is None:
        return
    http = [r for r in _http(vs) if r.get("name") != step.get("name")]
    if step.get("match"):
        _, canary = _services(rollout)
        match = [
            {"headers": {m["headerName"]: dict(m.get("headerValue") or {})}}
            for m in step.get("match") or []
        ]
        route = {"destination": {"host": canary}, "weight": 100}
        http.append({"name": step["name"], "match": match, "route": [route]})
    _save(store, vs, _order(rollout, http))


def set_mirror_route(store: ObjectStore, rollout: Obj, step: Obj) -> None:
    """Add (or replace) a managed mirror route: the weighted route, mirrored to the canary."""
    vs = virtual_service(store, rollout)
    if vs is None:
        return
    http = [r for r in _http(vs) if r.get("name") != step.get("name")]
    if step.get("match"):
        _, canary = _services(rollout)
        match = []
        for m in step.get("match") or []:
            one: Obj = {}
            for key, istio_key in (("method", "method"), ("path", "uri"), ("headers", "headers")):
                if m.get(key):
                    one[istio_key] = copy.deepcopy(m[key])
            match.append(one)
        mirror = {
            "name": step["name"],
            "match": match,
            "route": _weighted_route(rollout, _http(vs)),
            "mirror": {"host": canary},
            "mirrorPercentage": {"value": float(step.get("percentage", 100))},
        }
        http = [mirror, *http]
    _save(store, vs, _order(rollout, http))


def remove_managed_routes(store: ObjectStore, rollout: Obj) -> None:
    """Delete every header and mirror route the Rollout's steps name."""
    vs = virtual_service(store, rollout)
    if vs is None:
        return
    canary = (rollout["spec"].get("strategy") or {}).get("canary") or {}
    names = {
        (step.get("setHeaderRoute") or step.get("setMirrorRoute") or {}).get("name")
        for step in canary.get("steps") or []
    } - {None}
    _save(store, vs, [r for r in _http(vs) if r.get("name") not in names])
