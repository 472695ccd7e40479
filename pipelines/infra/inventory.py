"""Everything Terraform creates that a manifest, an Argo template or a workflow can name.

Two sources, both read from the code: the Kubernetes objects of ``modules/kubernetes-objects``
(evaluated by Terraform, :mod:`pipelines.infra.cluster`) and the ``helm_release`` resources of
the modules (python-hcl2: each release's chart brings its CRDs and Services, :mod:`kinds`). An
:class:`Inventory` can then take in an overlay's own objects, which the overlay creates itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pipelines.infra.cluster import ClusterObjects, bucket_names
from pipelines.infra.hcl import TfTree, environment_settings, resources
from pipelines.infra.kinds import BUILT_IN, CHART_KINDS, CHART_SERVICES, Kind

# Every namespace has a ServiceAccount "default"; these exist before Terraform runs.
PRESET_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
NamespacedName = tuple[str, str]


@dataclass(frozen=True)
class HelmRelease:
    """One ``helm_release`` of the Terraform modules."""

    module: str
    name: str
    chart: str
    namespace: str
    values: dict[str, Any]


@dataclass
class Inventory:
    """Names that exist once Terraform (and an overlay) is applied.

    ``None`` as the keys of a ConfigMap or Secret means they are not known here (a Secret synced
    with ``dataFrom``): any key is accepted.
    """

    namespaces: set[str] = field(default_factory=lambda: set(PRESET_NAMESPACES))
    accounts: set[NamespacedName] = field(default_factory=set)
    configmaps: dict[NamespacedName, set[str] | None] = field(default_factory=dict)
    secrets: dict[NamespacedName, set[str] | None] = field(default_factory=dict)
    services: dict[NamespacedName, set[int]] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=lambda: dict(BUILT_IN))
    default_storage_class: bool = False
    storage_classes: set[str] = field(default_factory=set)
    objects: list[dict[str, Any]] = field(default_factory=list)

    def has_account(self, namespace: str, name: str) -> bool:
        """A ServiceAccount exists (``default`` in every known namespace)."""
        return (namespace, name) in self.accounts or (
            name == "default" and namespace in self.namespaces
        )

    def add_objects(self, objects: list[dict[str, Any]], namespace: str) -> None:
        """Take in objects as created; ``namespace`` for those that name none."""
        for obj in objects:
            kind = obj.get("kind")
            meta = obj.get("metadata") or {}
            key = (str(meta.get("namespace") or namespace), str(meta.get("name")))
            self.objects.append(obj)
            if kind == "Namespace":
                self.namespaces.add(key[1])
            elif kind == "ServiceAccount":
                self.accounts.add(key)
            elif kind == "ConfigMap":
                self.configmaps[key] = set(obj.get("data") or {}) | set(obj.get("binaryData") or {})
            elif kind == "Secret":
                self.secrets[key] = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
                if obj.get("type") == "kubernetes.io/service-account-token":
                    self.secrets[key] = {"token", "ca.crt", "namespace"}
            elif kind == "Service":
                ports = {int(p["port"]) for p in (obj.get("spec") or {}).get("ports") or []}
                self.services[key] = ports
            elif kind == "ExternalSecret":
                self._external_secret(obj, key[0])
            elif kind == "StorageClass":
                self.storage_classes.add(key[1])
                annotations = meta.get("annotations") or {}
                default = annotations.get("storageclass.kubernetes.io/is-default-class")
                self.default_storage_class |= default == "true"

    def _external_secret(self, obj: dict[str, Any], namespace: str) -> None:
        spec = obj.get("spec") or {}
        target = str((spec.get("target") or {}).get("name") or obj["metadata"]["name"])
        keys: set[str] | None = {str(item["secretKey"]) for item in spec.get("data") or []}
        if spec.get("dataFrom"):
            keys = None
        self.secrets[(namespace, target)] = keys


def _resolve(expression: Any, module_locals: dict[str, Any]) -> str:
    """A namespace expression of a helm_release as a name (literal, var.namespaces, local)."""
    text = str(expression)
    for _ in range(5):
        match = re.fullmatch(r'\$\{var\.namespaces\["([^"]+)"\]\}', text)
        if match:
            return match.group(1)
        match = re.fullmatch(r"\$\{local\.([A-Za-z0-9_]+)\}", text)
        if not match or match.group(1) not in module_locals:
            break
        text = str(module_locals[match.group(1)])
    return text


def _values(body: dict[str, Any], module_locals: dict[str, Any]) -> dict[str, Any]:
    """The values the Services depend on (``fullnameOverride``, ``service.port``)."""
    text = str(body.get("values", ""))
    found: dict[str, Any] = {}
    override = re.search(r'fullnameOverride\s*=\s*"([^"]+)"', text)
    if override:
        found["fullnameOverride"] = override.group(1)
    port = re.search(r"service\s*=\s*\{[^}]*\bport\s*=\s*([A-Za-z0-9_.]+)", text)
    if port:
        value = port.group(1)
        if value.startswith("local."):
            value = str(module_locals.get(value[len("local.") :], ""))
        if value.isdigit():
            found["service.port"] = int(value)
    return found


def helm_releases(tree: TfTree) -> list[HelmRelease]:
    """Every ``helm_release`` in ``modules/`` with its chart and resolved namespace."""
    found: list[HelmRelease] = []
    for directory in sorted(d for d in tree.dirs if d.startswith("modules/")):
        files = tree.in_dir(directory)
        module_locals = {
            key: value
            for tf in files
            for entry in tf.doc.get("locals", [])
            for key, value in entry.items()
        }
        for tf in files:
            for rtype, _, body in resources(tf.doc):
                if rtype != "helm_release":
                    continue
                chart = str(body.get("chart", "")).rsplit("/", 1)[-1]
                if chart.startswith("${local."):
                    chart = str(module_locals.get(chart[8:-1], chart)).rsplit("/", 1)[-1]
                found.append(
                    HelmRelease(
                        directory.split("/", 1)[1],
                        str(body.get("name")),
                        chart,
                        _resolve(body.get("namespace", "default"), module_locals),
                        _values(body, module_locals),
                    )
                )
    return found


def terraform_inventory(tree: TfTree, objects: ClusterObjects) -> Inventory:
    """What Terraform creates in a stack's cluster: the module's objects and the charts'."""
    inventory = Inventory()
    for name, items in objects.releases.items():
        inventory.add_objects(items, "argo" if name in {"delivery", "workflow-templates"} else "")
    for release in helm_releases(tree):
        inventory.namespaces.add(release.namespace)
        inventory.kinds.update(CHART_KINDS.get(release.chart, {}))
        services = CHART_SERVICES.get(release.chart)
        for service, port in services(release.name, release.values) if services else []:
            inventory.services.setdefault((release.namespace, service), set()).add(port)
        if release.chart == "mlflow":
            inventory.accounts.add((release.namespace, "mlflow"))
    return inventory


def bucket_patterns(tree: TfTree) -> list[re.Pattern[str]]:
    """Bucket names Terraform creates in any environment (any 12-digit account id).

    ``ACCOUNT_ID`` is accepted for the account: ``.dvc/config`` carries it as a documented
    placeholder that each job replaces.
    """
    patterns = []
    for env in ("dev", "staging", "prod"):
        found = environment_settings(tree, env)
        if not found or not found[1]:
            continue
        prefix = f"{found[1]['project']}-{found[1]['environment']}"
        for name in bucket_names(tree, prefix, "\0").values():
            head, _, tail = name.partition("\0")
            patterns.append(re.compile(rf"{re.escape(head)}(\d{{12}}|ACCOUNT_ID){re.escape(tail)}"))
    return patterns
