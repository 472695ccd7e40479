"""Kinds the fake API server serves: built-in Kubernetes kinds plus installed CRDs.

A kind from a CRD is served only once its ``CustomResourceDefinition`` is in the store (the
bootstrap installs what Terraform's add-ons install), so applying a Rollout to a cluster
without Argo Rollouts fails as it does on a real API server. Names on the kubectl command line
resolve as kubectl resolves them: kind, plural, singular, short names, ``plural.group``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twin.cluster.interfaces import Obj, ObjectStore

CRD_KIND = "CustomResourceDefinition"
SCHEMA_ANNOTATION = "twin.trading/schema"


@dataclass(frozen=True)
class Kind:
    """One served kind."""

    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool = True
    short: tuple[str, ...] = field(default_factory=tuple)
    schema: str = ""  # a file under ../shared/schemas validating it (strict apply)

    @property
    def api_version(self) -> str:
        """``group/version`` (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """``plural.group`` as kubectl prints it (``rollouts.argoproj.io``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def names(self) -> set[str]:
        """Every name kubectl accepts for this kind (lower case)."""
        singular = self.kind.lower()
        found = {singular, self.plural, *self.short}
        if self.group:
            found |= {f"{self.plural}.{self.group}", f"{singular}.{self.group}"}
        return found


BUILTIN = (
    Kind("Namespace", "", "v1", "namespaces", False, ("ns",)),
    Kind("ConfigMap", "", "v1", "configmaps", short=("cm",)),
    Kind("Secret", "", "v1", "secrets"),
    Kind("Service", "", "v1", "services", short=("svc",)),
    Kind("ServiceAccount", "", "v1", "serviceaccounts", short=("sa",)),
    Kind("Pod", "", "v1", "pods", short=("po",)),
    Kind("Endpoints", "", "v1", "endpoints", short=("ep",)),
    Kind("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", short=("pvc",)),
    Kind("Deployment", "apps", "v1", "deployments", short=("deploy",)),
    Kind("ReplicaSet", "apps", "v1", "replicasets", short=("rs",)),
    Kind("Job", "batch", "v1", "jobs"),
    Kind("Role", "rbac.authorization.k8s.io", "v1", "roles"),
    Kind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings"),
    Kind("ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", False),
    Kind("ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", False),
    Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", short=("pdb",)),
    Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", short=("netpol",)),
    Kind(
        CRD_KIND, "apiextensions.k8s.io", "v1", "customresourcedefinitions", False, ("crd", "crds")
    ),
)


def crd_object(kind: Kind) -> Obj:
    """The ``CustomResourceDefinition`` that installs ``kind`` (what a Helm chart applies)."""
    annotations = {SCHEMA_ANNOTATION: kind.schema} if kind.schema else {}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": CRD_KIND,
        "metadata": {"name": kind.resource, "annotations": annotations},
        "spec": {
            "group": kind.group,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short),
            },
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "versions": [{"name": kind.version, "served": True, "storage": True}],
        },
    }


def kind_of_crd(crd: Obj) -> Kind:
    """The kind a stored CRD serves."""
    spec: dict[str, Any] = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    annotations = (crd.get("metadata") or {}).get("annotations") or {}
    return Kind(
        kind=str(names.get("kind", "")),
        group=str(spec.get("group", "")),
        version=str(versions[0]["name"]) if versions else "v1",
        plural=str(names.get("plural", "")),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short=tuple(names.get("shortNames") or ()),
        schema=str(annotations.get(SCHEMA_ANNOTATION, "")),
    )


class KindTable:
    """The kinds a store serves right now (built-ins and installed CRDs)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def served(self) -> list[Kind]:
        """Every served kind."""
        crds = [kind_of_crd(c) for c in self._store.list(CRD_KIND)]
        return [*BUILTIN, *crds]

    def resolve(self, name: str) -> Kind | None:
        """The kind a kubectl name means (``ro``, ``rollouts.argoproj.io``, ``Rollout``)."""
        wanted = name.lower()
        for kind in self.served():
            if wanted in kind.names():
                return kind
        return None

    def for_object(self, obj: Obj) -> Kind | None:
        """The served kind matching an object's ``apiVersion`` and ``kind``, or None."""
        api_version = str(obj.get("apiVersion", ""))
        for kind in self.served():
            if kind.kind == obj.get("kind") and kind.api_version == api_version:
                return kind
        return None
