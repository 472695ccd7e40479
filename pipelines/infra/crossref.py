"""Cross-reference: everything the manifests, templates and workflows name is created somewhere.

A reference (:mod:`references`) must be met by what Terraform creates in the stack's cluster
(:mod:`inventory`) or by the overlay itself: namespaces, service accounts, ConfigMaps and
Secrets with the keys read, kinds and CRDs, Services and their ports, the default storage class,
buckets. On top: the deployer may apply every kind an overlay holds, every pod that reaches S3
runs as an account with a pod identity (and every pod identity has a pod), the workflows' runner
label is the scale set Terraform installs, and each environment whose deploy job reads
``ARGO_TOKEN`` has its token account.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipelines.delivery.doctor_workflows import read_jobs
from pipelines.infra.cluster import ClusterObjects, evaluate
from pipelines.infra.hcl import TfTree, blocks, load_tree
from pipelines.infra.inventory import Inventory, bucket_patterns, terraform_inventory
from pipelines.infra.references import (
    DEFAULT_CLASS,
    MODEL_ENVIRONMENTS,
    Document,
    Reference,
    argo_documents,
    document_references,
    file_buckets,
    render_overlay,
)

APPLY_VERBS = frozenset({"get", "create", "patch"})
GITHUB_HOSTED = re.compile(r"^(ubuntu|windows|macos)-")
# What a pod does that needs S3: DVC against the remote, a model bundle, an artifact check.
S3_USE = re.compile(r"\b(dvc (pull|push|repro)|verify-artifact|serve|recover [a-z-]+)\b")
POD_KEYS = frozenset({"containers", "container", "script"})
BUCKET_FILES = (
    "params.yaml",
    ".dvc/config",
    *(f"environments/{e}/model.yaml" for e in MODEL_ENVIRONMENTS),
)


def _missing(ref: Reference, inventory: Inventory, buckets: list[re.Pattern[str]]) -> str | None:
    """Why ``ref`` is not met, or None."""
    where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    if ref.what == "namespace":
        return None if ref.name in inventory.namespaces else f"namespace {ref.name}"
    if ref.what == "serviceaccount":
        ok = inventory.has_account(ref.namespace, ref.name)
        return None if ok else f"ServiceAccount {where}"
    if ref.what in ("configmap", "secret"):
        table = inventory.configmaps if ref.what == "configmap" else inventory.secrets
        label = "ConfigMap" if ref.what == "configmap" else "Secret"
        key = (ref.namespace, ref.name)
        if key not in table:
            return None if ref.optional else f"{label} {where}"
        keys = table[key]
        if ref.key and keys is not None and ref.key not in keys and not ref.optional:
            return f"key {ref.key} of {label} {where}"
        return None
    if ref.what == "kind":
        return None if ref.name in inventory.kinds else f"kind {ref.name} (no CRD installed)"
    if ref.what == "crd":
        crds = {f"{plural}.{group}" for group, plural in inventory.kinds.values() if group}
        return None if ref.name in crds else f"CRD {ref.name}"
    if ref.what == "service":
        ports = inventory.services.get((ref.namespace, ref.name))
        if ports is None:
            return f"Service {where}"
        return None if not ref.key or int(ref.key) in ports else f"port {ref.key} of {where}"
    if ref.what == "bucket":
        ok = any(pattern.fullmatch(ref.name) for pattern in buckets)
        return None if ok else f"bucket {ref.name}"
    if ref.what == "storageclass":
        if ref.name == DEFAULT_CLASS:
            return None if inventory.default_storage_class else "a default StorageClass"
        return None if ref.name in inventory.storage_classes else f"StorageClass {ref.name}"
    return f"{ref.what} {where} (unknown reference type)"


def _named(inventory: Inventory, kind: str, name: str) -> list[dict[str, Any]]:
    return [o for o in inventory.objects if o.get("kind") == kind and o["metadata"]["name"] == name]


def deployer_problems(inventory: Inventory, overlays: dict[str, list[Document]]) -> list[str]:
    """The deploy template's account may apply every kind of every overlay, in its namespace."""
    problems: list[str] = []
    roles = _named(inventory, "ClusterRole", "trading-deployer")
    rules = roles[0].get("rules", []) if roles else []
    bound = {
        o["metadata"].get("namespace")
        for o in _named(inventory, "RoleBinding", "trading-deployer")
        if {"kind": "ServiceAccount", "name": "deployer", "namespace": "argo"} in o["subjects"]
    }
    for env, docs in overlays.items():
        for doc in docs:
            if doc.namespace not in bound:
                problems.append(f"{doc.where}: deployer has no RoleBinding in {doc.namespace}")
                break
            group, plural = inventory.kinds.get(str(doc.obj.get("kind")), ("?", "?"))
            allowed = set().union(
                *(
                    set(r["verbs"])
                    for r in rules
                    if group in r["apiGroups"] and plural in r["resources"]
                )
            )
            if not allowed >= APPLY_VERBS:
                missing = ", ".join(sorted(APPLY_VERBS - allowed))
                problems.append(f"{doc.where}: deployer may not {missing} {plural} ({env})")
    return problems


def identity_problems(
    objects: ClusterObjects, docs: list[Document], inventory: Inventory
) -> list[str]:
    """Pods that reach S3 run with a pod identity; every pod identity belongs to some pod."""
    access = {
        (v["namespace"], v["service_account"]) for v in objects.outputs["workload_access"].values()
    }
    used: set[tuple[str, str]] = {(ns, name) for ns, name in inventory.accounts if name == "mlflow"}
    problems: list[str] = []
    for doc in docs:
        accounts = {
            (doc.namespace, ref.name)
            for ref in document_references(doc)
            if ref.what == "serviceaccount"
        }
        used |= accounts
        text = " ".join(str(v) for v in _texts(doc.obj))
        if _runs_pods(doc.obj) and S3_USE.search(text):
            for account in sorted(accounts or {(doc.namespace, "default")}):
                if account not in access:
                    problems.append(
                        f"{doc.where}: runs as {account[0]}/{account[1]}, which reaches S3 "
                        "without a pod identity (kubernetes-objects workload_access)"
                    )
    for namespace, name in sorted(access - used):
        problems.append(f"pod identity {namespace}/{name}: no pod runs as it")
    return problems


def _runs_pods(node: Any) -> bool:
    """Whether an object holds a pod spec or an Argo container or script template.

    A ConfigMap that carries a manifest naming ``s3://`` runs nothing.
    """
    if isinstance(node, dict):
        if POD_KEYS & node.keys():
            return True
        return any(_runs_pods(value) for value in node.values())
    if isinstance(node, list):
        return any(_runs_pods(item) for item in node)
    return False


def _texts(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for value in node.values() for t in _texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


def workflow_problems(tree: TfTree, workflows: Path, inventory: Inventory) -> list[str]:
    """Runner label = the scale set Terraform installs; deploy jobs' ARGO_TOKEN accounts exist."""
    runner_set = next(
        (
            body.get("default")
            for tf in tree.in_dir("modules/runners")
            for name, body in blocks(tf.doc, "variable")
            if name == "runner_set_name"
        ),
        None,
    )
    problems: list[str] = []
    for job in read_jobs(workflows):
        where = f"{job.workflow}:{job.job}"
        for label in job.runs_on:
            if not GITHUB_HOSTED.match(label) and label != runner_set:
                problems.append(f"{where}: runs-on {label}: no runner scale set of that name")
        if any(need.name == "ARGO_TOKEN" for need in job.needs):
            for env in job.environments:
                account = f"github-deploy-{env}"
                if ("argo", account) not in inventory.accounts:
                    problems.append(
                        f"{where}: ARGO_TOKEN of environment {env}: no account {account}"
                    )
                if ("argo", f"{account}-token") not in inventory.secrets:
                    problems.append(f"{where}: ARGO_TOKEN of environment {env}: no token Secret")
    return problems


def cross_reference(
    repo: Path,
    env: str = "prod",
    argo_dir: Path | None = None,
    workflows: Path | None = None,
    overlays: dict[str, list[Document]] | None = None,
) -> list[str]:
    """Every problem, one line each (empty: everything named is created somewhere).

    Args:
        repo: Repository root (terraform/, environments/, deploy/argo/, .github/workflows/).
        env: The Terraform stack whose cluster is checked.
        argo_dir: Another folder of Argo templates (default deploy/argo).
        workflows: Another folder of GitHub workflows.
        overlays: Rendered overlays by environment (default: rendered here).
    """
    tree = load_tree(repo / "terraform")
    objects = evaluate(repo, env, tree=tree)
    inventory = terraform_inventory(tree, objects)
    buckets = bucket_patterns(tree)
    if overlays is None:
        overlays = {e: render_overlay(repo, e) for e in MODEL_ENVIRONMENTS}
    templates = argo_documents(argo_dir or repo / "deploy" / "argo")
    problems: list[str] = []
    everything: list[Document] = list(templates)
    for docs in overlays.values():
        overlay = Inventory(
            namespaces=set(inventory.namespaces),
            accounts=set(inventory.accounts),
            configmaps=dict(inventory.configmaps),
            secrets=dict(inventory.secrets),
            services=dict(inventory.services),
            kinds=dict(inventory.kinds),
            default_storage_class=inventory.default_storage_class,
            storage_classes=set(inventory.storage_classes),
        )
        overlay.add_objects([d.obj for d in docs], "")
        problems.extend(_unmet(docs, overlay, buckets))
        everything.extend(docs)
    problems.extend(_unmet(templates, inventory, buckets))
    # Terraform's own objects name things too (pipelines-config's MLflow Service, namespaces).
    installed = [
        Document(
            obj,
            f"terraform {release}: {obj.get('kind')}/{obj['metadata']['name']}",
            str(obj["metadata"].get("namespace") or ""),
        )
        for release, objs in objects.releases.items()
        for obj in objs
        if release != "workflow-templates"
    ]
    problems.extend(_unmet(installed, inventory, buckets))
    for ref in file_buckets([repo / name for name in BUCKET_FILES], repo):
        reason = _missing(ref, inventory, buckets)
        if reason:
            problems.append(f"{ref.where}: {reason} is created by nothing")
    problems.extend(deployer_problems(inventory, overlays))
    problems.extend(identity_problems(objects, everything, inventory))
    problems.extend(workflow_problems(tree, workflows or repo / ".github" / "workflows", inventory))
    return sorted(dict.fromkeys(problems))


def _unmet(docs: list[Document], inventory: Inventory, buckets: list[re.Pattern[str]]) -> list[str]:
    found = []
    for doc in docs:
        for ref in document_references(doc):
            reason = _missing(ref, inventory, buckets)
            if reason:
                found.append(
                    f"{ref.where}: {reason} is created by nothing (Terraform or the overlay)"
                )
    return found
