"""AnalysisRuns a Rollout creates from its AnalysisTemplates (rollout/analysis.go, utils/analysis).

- Args (``BuildArgumentsForRolloutAnalysisRun``): ``value``, ``valueFrom.podTemplateHashValue``
  (``Latest``: the new ReplicaSet's hash, ``Stable``: the stable one's) and
  ``valueFrom.fieldRef`` (``metadata.name|namespace|labels['k']|annotations['k']`` or a path
  into the Rollout).
- Templates are flattened (``FlattenTemplates``): metrics concatenated (a duplicate name is an
  error), args merged (one name with two different defaults is an error); the Rollout's args
  then override the templates' (``MergeArgs``: only args a template declares), and an arg left
  without a value is an error (``args.<name> was not resolved``).
- Name ``<rollout>-<hash>-<revision>[-<step index|pre|post>]`` (``.<n>`` on a collision),
  labels ``rollouts-pod-template-hash``, ``rollout-type`` and, for steps, ``step-index``.
- Cancelling sets ``spec.terminate`` (the AnalysisRun controller then ends the run).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from twin.cluster.interfaces import Obj, ObjectStore
from twin.cluster.rollouts_replicasets import HASH_LABEL

TYPE_LABEL = "rollout-type"
STEP_LABEL = "step-index"
TYPES = {"step": "Step", "pre": "PrePromotion", "post": "PostPromotion"}


class AnalysisSpecError(ValueError):
    """The Rollout's analysis cannot become an AnalysisRun (the Rollout's spec is invalid)."""


def _field(rollout: Obj, path: str) -> str:
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    meta = rollout.get("metadata") or {}
    if match:
        value = (meta.get(match.group(1)) or {}).get(match.group(2))
    elif path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        value = meta.get(path.split(".", 1)[1])
    else:
        value = rollout
        for part in (p for p in re.split(r"[.\[\]]+", path) if p):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict):
                value = value.get(part)
            else:
                value = None
                break
    if value is None or isinstance(value, dict | list):
        raise AnalysisSpecError(f"invalid path {path} in rollout")
    return str(value)


def build_args(rollout: Obj, args: list[Obj], new_hash: str, stable_hash: str) -> list[Obj]:
    """The Rollout's analysis args with ``valueFrom`` resolved."""
    out = []
    for arg in args:
        source = arg.get("valueFrom") or {}
        value = arg.get("value")
        if source.get("podTemplateHashValue") == "Latest":
            value = new_hash
        elif source.get("podTemplateHashValue") == "Stable":
            value = stable_hash
        elif "fieldRef" in source:
            value = _field(rollout, str(source["fieldRef"].get("fieldPath", "")))
        out.append({"name": arg["name"], "value": "" if value is None else str(value)})
    return out


def _template(store: ObjectStore, namespace: str, ref: Obj) -> Obj:
    kind = "ClusterAnalysisTemplate" if ref.get("clusterScope") else "AnalysisTemplate"
    found = store.get(kind, "" if ref.get("clusterScope") else namespace, ref["templateName"])
    if found is None:
        raise AnalysisSpecError(f"{kind} '{ref['templateName']}' not found")
    return found


def flatten(templates: list[Obj]) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Metrics, args and dryRun of several templates (``FlattenTemplates``)."""
    metrics: list[Obj] = []
    args: list[Obj] = []
    dry: list[Obj] = []
    for template in templates:
        spec = template.get("spec") or {}
        for metric in spec.get("metrics") or []:
            if any(m["name"] == metric["name"] for m in metrics):
                raise AnalysisSpecError(f"two metrics have the same name '{metric['name']}'")
            metrics.append(copy.deepcopy(metric))
        for arg in spec.get("args") or []:
            prev = next((a for a in args if a["name"] == arg["name"]), None)
            if prev is None:
                args.append(copy.deepcopy(arg))
            elif "value" in prev and "value" in arg and prev["value"] != arg["value"]:
                raise AnalysisSpecError(
                    f"Argument `{arg['name']}` specified multiple times with different values: "
                    f"'{prev['value']}', '{arg['value']}'"
                )
            elif "value" not in prev:
                args[args.index(prev)] = copy.deepcopy(arg)
        dry += copy.deepcopy(spec.get("dryRun") or [])
    return metrics, args, dry


def merge_args(incoming: list[Obj], declared: list[Obj]) -> list[Obj]:
    """Template args overridden by the Rollout's (``MergeArgs``), all resolved."""
    merged = copy.deepcopy(declared)
    for arg in incoming:
        for target in merged:
            if target["name"] == arg["name"] and arg.get("value") is not None:
                target["value"] = arg["value"]
                target.pop("valueFrom", None)
    for arg in merged:
        if arg.get("value") is None:
            raise AnalysisSpecError(f"args.{arg['name']} was not resolved")
    return merged


def create_run(
    store: ObjectStore,
    rollout: Obj,
    analysis: Obj,
    hashes: tuple[str, str],
    revision: int,
    kind: str,
    step_index: int | None = None,
) -> Obj:
    """Create the AnalysisRun of one analysis (step, ``pre`` or ``post``); returns it.

    Raises:
        AnalysisSpecError: A missing template or an unresolvable arg.
    """
    meta = rollout["metadata"]
    namespace = meta.get("namespace", "")
    templates = [_template(store, namespace, ref) for ref in analysis.get("templates") or []]
    metrics, declared, dry = flatten(templates)
    args = merge_args(build_args(rollout, analysis.get("args") or [], *hashes), declared)
    infix = str(step_index) if kind == "step" else kind
    base = f"{meta['name']}-{hashes[0]}-{revision}-{infix}"
    labels = {HASH_LABEL: hashes[0], TYPE_LABEL: TYPES[kind]}
    if step_index is not None:
        labels[STEP_LABEL] = str(step_index)
    name, count = base, 0
    while store.get("AnalysisRun", namespace, name) is not None:
        count += 1
        name = f"{base}.{count}"
    run: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
            "ownerReferences": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": meta["name"]}
            ],
        },
        "spec": {"metrics": metrics, "args": args, "dryRun": dry + (analysis.get("dryRun") or [])},
    }
    return store.apply(run)


def cancel(store: ObjectStore, namespace: str, name: str | None) -> None:
    """Terminate an AnalysisRun that is still running (``cancelAnalysisRuns``)."""
    if not name:
        return
    run = store.get("AnalysisRun", namespace, name)
    if run is None or (run.get("spec") or {}).get("terminate"):
        return
    if (run.get("status") or {}).get("phase") in ("Successful", "Failed", "Error", "Inconclusive"):
        return
    run["spec"]["terminate"] = True
    store.apply(run)


def run_status(store: ObjectStore, namespace: str, name: str | None) -> Obj | None:
    """``{name, status, message}`` of an AnalysisRun as the Rollout's status records it."""
    if not name:
        return None
    run = store.get("AnalysisRun", namespace, name)
    if run is None:
        return None
    status = run.get("status") or {}
    out = {"name": name, "status": status.get("phase", "Pending")}
    if status.get("message"):
        out["message"] = status["message"]
    return out
