"""Every name a rendered overlay, an Argo template or a workflow relies on someone to create.

Read from what runs: the overlays as ``kubectl kustomize`` renders them, ``deploy/argo/*.yaml``
as Terraform installs them (namespace ``argo``), the workflows through the doctor's parser, and
the files that carry bucket URIs. Argo's ``{{workflow.parameters.environment}}`` is expanded
over the model environments.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError
from pipelines.io import yamlio

MODEL_ENVIRONMENTS = ("dev", "staging", "prod")
DEFAULT_CLASS = "(default)"  # a claim that names no StorageClass: the cluster's default
ARGO_NAMESPACE = "argo"
ENV_PARAMETER = "{{workflow.parameters.environment}}"
_SERVICE = re.compile(
    r"\b([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?"
    r"(:(\d+))?"
)
_BUCKET = re.compile(r"\bs3://([a-z0-9.-]*ACCOUNT_ID|[a-z0-9][a-z0-9.-]*[a-z0-9])")
_NAMESPACE_FLAG = re.compile(r"(?:\s-n|--namespace)[\s=]+([a-z0-9][-a-z0-9]*)")
_GET_NAMESPACE = re.compile(r"kubectl get namespace\s+\"?([a-z0-9][-a-z0-9]*)")
_GET_CRD = re.compile(r"kubectl get crd((?:\s+[a-z0-9.-]+)+)")


@dataclass(frozen=True)
class Reference:
    """One name something relies on.

    Attributes:
        what: namespace, serviceaccount, configmap, secret, kind, crd, service, bucket or
            storageclass.
        namespace: Where it must exist ('' when cluster-scoped or not namespaced).
        name: Its name (for a kind: the kind; for a crd: ``plural.group``).
        key: The ConfigMap or Secret key read, the Service port, or ''.
        where: The file and object that names it.
        optional: The reference tolerates its absence (``optional: true``).
    """

    what: str
    namespace: str
    name: str
    key: str
    where: str
    optional: bool = False


@dataclass(frozen=True)
class Document:
    """A Kubernetes object from a file, with where it comes from and its namespace."""

    obj: dict[str, Any]
    where: str
    namespace: str


def render_overlay(repo: Path, env: str) -> list[Document]:
    """``kubectl kustomize environments/<env>`` as documents.

    Raises:
        PipelineError: kubectl is missing or the overlay does not render.
    """
    try:
        proc = subprocess.run(  # noqa: S603 - fixed command, the path is an argument
            ["kubectl", "kustomize", str(repo / "environments" / env)],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except OSError as exc:
        raise PipelineError(f"kubectl kustomize environments/{env}: {exc}") from None
    if proc.returncode != 0:
        raise PipelineError(f"environments/{env}: does not render: {proc.stderr.strip()[:300]}")
    docs = [d for d in yamlio.load_all(proc.stdout) if isinstance(d, dict)]
    return [Document(d, f"environments/{env}: {_label(d)}", _namespace(d, "")) for d in docs]


def argo_documents(folder: Path) -> list[Document]:
    """The WorkflowTemplates and CronWorkflows of ``folder`` as installed (namespace argo)."""
    found = []
    for path in sorted(folder.glob("*.yaml")):
        for doc in yamlio.load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict):
                where = f"{path.parent.name}/{path.name}: {_label(doc)}"
                found.append(Document(doc, where, _namespace(doc, ARGO_NAMESPACE)))
    return found


def _label(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def _namespace(doc: dict[str, Any], default: str) -> str:
    return str((doc.get("metadata") or {}).get("namespace") or default)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        # An argument list reads as one command line (`--namespace`, `trading-...`).
        if node and all(isinstance(item, str) for item in node):
            yield " ".join(node)
        for item in node:
            yield from _strings(item)


def _expand(text: str) -> list[str]:
    if ENV_PARAMETER not in text:
        return [text]
    return [text.replace(ENV_PARAMETER, env) for env in MODEL_ENVIRONMENTS]


def _key_refs(doc: Document) -> Iterator[Reference]:
    for node in _walk(doc.obj):
        for field, what in (("configMapKeyRef", "configmap"), ("secretKeyRef", "secret")):
            ref = node.get(field)
            if isinstance(ref, dict):
                yield Reference(
                    what,
                    doc.namespace,
                    str(ref.get("name")),
                    str(ref.get("key", "")),
                    doc.where,
                    bool(ref.get("optional")),
                )
        if "serviceAccountName" in node:
            name = str(node["serviceAccountName"])
            yield Reference("serviceaccount", doc.namespace, name, "", doc.where)
        config_map = node.get("configMap")
        if isinstance(config_map, dict) and "name" in config_map:
            yield Reference("configmap", doc.namespace, str(config_map["name"]), "", doc.where)
        secret = node.get("secret")
        if isinstance(secret, dict) and "secretName" in secret:
            yield Reference("secret", doc.namespace, str(secret["secretName"]), "", doc.where)
        for claim in node.get("volumeClaimTemplates") or []:
            if isinstance(claim, dict):
                named = (claim.get("spec") or {}).get("storageClassName")
                yield Reference("storageclass", "", str(named or DEFAULT_CLASS), "", doc.where)


def _text_refs(doc: Document) -> Iterator[Reference]:
    for raw in _strings(doc.obj):
        for text in _expand(raw):
            for match in _SERVICE.finditer(text):
                port = match.group(7) or ""
                yield Reference("service", match.group(3), match.group(1), port, doc.where)
            for match in _BUCKET.finditer(text):
                yield Reference("bucket", "", match.group(1), "", doc.where)
            for pattern in (_NAMESPACE_FLAG, _GET_NAMESPACE):
                for match in pattern.finditer(" " + text):
                    yield Reference("namespace", "", match.group(1), "", doc.where)
            for match in _GET_CRD.finditer(text):
                for crd in match.group(1).split():
                    yield Reference("crd", "", crd, "", doc.where)


def document_references(doc: Document) -> list[Reference]:
    """Everything one object names: its kind and namespace, accounts, keys, Services, buckets."""
    found = [Reference("kind", "", str(doc.obj.get("kind")), "", doc.where)]
    if doc.namespace:
        found.append(Reference("namespace", "", doc.namespace, "", doc.where))
    found.extend(_key_refs(doc))
    found.extend(_text_refs(doc))
    return found


def file_buckets(paths: list[Path], repo: Path) -> list[Reference]:
    """Bucket URIs in plain files (model manifests, params.yaml, .dvc/config)."""
    found = []
    for path in paths:
        if not path.is_file():
            continue
        where = str(path.relative_to(repo))
        for match in _BUCKET.finditer(path.read_text(encoding="utf-8")):
            found.append(Reference("bucket", "", match.group(1), "", where))
    return found
