"""CHAOS / TEST-ONLY: inject environment variables into chosen pods (the e2e's bad candidate).

Nothing in the platform reads this. A rule says: pods in ``namespace`` whose mounted
ConfigMaps name the model sha256 ``model_sha256`` (the promoted manifest) get ``env``. The
rule lives in ``<home>/cluster/chaos.json`` and is read when a pod starts, so it applies to the
pods of a rollout that starts after it was set, on every pod of that model, and on none other.

``python -m twin cluster-chaos inject-env --namespace trading-prod --model-sha256 HEX
--env KEY=VALUE`` sets a rule; ``python -m twin cluster-chaos clear`` removes them all.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipelines.io import atomic
from twin.cluster.interfaces import Obj, ObjectStore
from twin.cluster.volumes import object_data
from twin.errors import TwinError

CHAOS_FILE = "chaos.json"


def _path(home: Path) -> Path:
    return home / "cluster" / CHAOS_FILE


def rules(home: Path) -> list[dict[str, Any]]:
    """The chaos rules in force."""
    path = _path(home)
    return list(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else []


def inject_env(home: Path, namespace: str, model_sha256: str, env: dict[str, str]) -> None:
    """Add a rule (TEST-ONLY): pods of ``namespace`` serving ``model_sha256`` get ``env``."""
    if len(model_sha256) != 64 or any(c not in "0123456789abcdef" for c in model_sha256):
        raise TwinError(f"chaos: --model-sha256 {model_sha256!r}: expected 64 lowercase hex digits")
    current = rules(home)
    current.append({"namespace": namespace, "model_sha256": model_sha256, "env": env})
    atomic.write_json(_path(home), current)


def clear(home: Path) -> None:
    """Remove every chaos rule."""
    atomic.write_json(_path(home), [])


def env_for(home: Path, store: ObjectStore, namespace: str, pod_spec: Obj) -> dict[str, str]:
    """The injected env for a pod about to start (empty for every pod no rule names)."""
    found: dict[str, str] = {}
    active = [r for r in rules(home) if r["namespace"] == namespace]
    if not active:
        return found
    texts: list[str] = []
    for volume in pod_spec.get("volumes") or []:
        if "configMap" in volume:
            obj = store.get("ConfigMap", namespace, volume["configMap"].get("name", ""))
            texts.extend(v.decode(errors="replace") for v in object_data(obj or {}).values())
    for rule in active:
        if any(rule["model_sha256"] in text for text in texts):
            found.update(rule["env"])
    return found


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``python -m twin cluster-chaos ...`` (TEST-ONLY)."""
    parser = commands.add_parser("cluster-chaos", help="TEST-ONLY: inject env into chosen pods")
    parser.add_argument("--home", type=Path, required=True)
    actions = parser.add_subparsers(dest="chaos_action", required=True)
    inject = actions.add_parser("inject-env")
    inject.add_argument("--namespace", required=True)
    inject.add_argument("--model-sha256", required=True)
    inject.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    actions.add_parser("clear")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.chaos_action == "clear":
        clear(args.home)
        return 0
    pairs = [e.split("=", 1) for e in args.env]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise TwinError("chaos inject-env: give at least one --env KEY=VALUE")
    inject_env(args.home, args.namespace, args.model_sha256, {k: v for k, v in pairs})
    return 0
