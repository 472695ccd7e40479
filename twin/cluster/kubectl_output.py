"""How kubectl prints objects: ``-o jsonpath=...``, ``json``, ``yaml``, ``name``, tables."""

from __future__ import annotations

import json
from typing import Any

import yaml

from twin.cluster import jsonpath
from twin.cluster.interfaces import Obj
from twin.cluster.kinds import Kind
from twin.cluster.store import now_rfc3339
from twin.errors import TwinError


def render(output: str, kind: Kind, objs: list[Obj], single: bool, verb: str) -> str:
    """Objects as ``-o output`` prints them (one object, or a ``List`` of several).

    ``verb`` (``created``...) prints ``<kind>/<name> <verb>`` lines, as kubectl does after a
    change. Raises TwinError for an output format the twin does not print.
    """
    doc: Any = objs[0] if single else {"apiVersion": "v1", "kind": "List", "items": objs}
    if output.startswith("jsonpath="):
        return jsonpath.render(output[len("jsonpath=") :].strip("'\""), doc)
    if output == "json":
        return json.dumps(doc, indent=4, sort_keys=True)
    if output == "yaml":
        return yaml.safe_dump(doc, sort_keys=True).rstrip("\n")
    if output == "name" or verb:
        suffix = f" {verb}" if verb and output != "name" else ""
        return "\n".join(f"{ref(kind, o)}{suffix}" for o in objs)
    if output not in ("", "wide"):
        raise TwinError(f"error: output format {output!r} is not supported by the twin")
    return _table(kind, objs)


def ref(kind: Kind, obj: Obj) -> str:
    """``<kind>.<group>/<name>`` as kubectl names an object."""
    lower = kind.kind.lower()
    return (
        f"{lower}.{kind.group}/{obj['metadata']['name']}"
        if kind.group
        else f"{lower}/{obj['metadata']['name']}"
    )


def selected(obj: Obj, selector: str) -> bool:
    """Whether an object's labels match a ``k=v,k2=v2`` selector."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key.rstrip("=")) != value.lstrip("="):
            return False
    return True


def _table(kind: Kind, objs: list[Obj]) -> str:
    if kind.kind == "CustomResourceDefinition":
        rows = [["NAME", "CREATED AT"]] + [
            [o["metadata"]["name"], o["metadata"].get("creationTimestamp", now_rfc3339())]
            for o in objs
        ]
    else:
        rows = [["NAME", "STATUS"]] + [
            [
                o["metadata"]["name"],
                str(
                    (o.get("status") or {}).get(
                        "phase", "Active" if kind.kind == "Namespace" else ""
                    )
                ),
            ]
            for o in objs
        ]
    width = max(len(r[0]) for r in rows) + 3
    return "\n".join(f"{r[0]:<{width}}{r[1]}".rstrip() for r in rows)
