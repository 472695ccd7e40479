"""Install into the running cluster what Terraform and its Helm add-ons install in EKS.

- the CRDs of Argo Rollouts, Argo Workflows, the Prometheus operator and Istio (served kinds);
- namespaces ``argo``, ``argo-rollouts``, ``monitoring``, ``mlflow`` and ``trading-<env>`` for
  every overlay under ``environments/`` (except ``base``);
- in ``argo``: ConfigMap ``pipelines-config`` (``mlflow-tracking-uri`` as Terraform's argo
  module outputs it, ``dvc-remote-url``, ``github-repository``, ``github-api-url``,
  ``prometheus-url``, ``pushgateway-url``), Secret ``github-dispatch`` (``token``: an App
  installation token for the twin's GitHub), ServiceAccounts ``deployer`` and ``pipelines``;
- the platform's Services ``prometheus-operated``, ``alertmanager-operated``, ``pushgateway``
  (monitoring) and ``mlflow`` (mlflow): no selector, the cluster DNS maps them to the twin's
  servers;
- the WorkflowTemplates and CronWorkflows of ``deploy/argo/*.yaml`` in ``argo``, validated
  against the Argo Workflows schema (``../shared``) first.

Everything goes through the cluster's kubectl API (``apply --server-side``), as Terraform's
Kubernetes provider goes through the API server.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import yaml

from pipelines.delivery.lint.schemas import validate_objects
from twin import state
from twin.buckets import bucket_names
from twin.cluster.kinds import Kind, crd_object
from twin.cluster.kubectl_cmd import load_documents
from twin.errors import TwinError

REPOSITORY = "trading-pipelines/gitops"
MLFLOW_URI = "http://mlflow.mlflow.svc.cluster.local:5000"

CRDS = (
    Kind(
        "Rollout",
        "argoproj.io",
        "v1alpha1",
        "rollouts",
        short=("ro",),
        schema="argo-rollouts/rollout.strict.json",
    ),
    Kind(
        "AnalysisTemplate",
        "argoproj.io",
        "v1alpha1",
        "analysistemplates",
        schema="argo-rollouts/analysistemplate.strict.json",
    ),
    Kind(
        "ClusterAnalysisTemplate",
        "argoproj.io",
        "v1alpha1",
        "clusteranalysistemplates",
        False,
        schema="argo-rollouts/clusteranalysistemplate.strict.json",
    ),
    Kind(
        "AnalysisRun",
        "argoproj.io",
        "v1alpha1",
        "analysisruns",
        schema="argo-rollouts/analysisrun.strict.json",
    ),
    Kind("Experiment", "argoproj.io", "v1alpha1", "experiments", short=("exp",)),
    Kind(
        "Workflow",
        "argoproj.io",
        "v1alpha1",
        "workflows",
        short=("wf",),
        schema="argo-workflows/schema.json",
    ),
    Kind(
        "WorkflowTemplate",
        "argoproj.io",
        "v1alpha1",
        "workflowtemplates",
        short=("wftmpl",),
        schema="argo-workflows/schema.json",
    ),
    Kind(
        "ClusterWorkflowTemplate",
        "argoproj.io",
        "v1alpha1",
        "clusterworkflowtemplates",
        False,
        ("clusterwftmpl", "cwft"),
        schema="argo-workflows/schema.json",
    ),
    Kind(
        "CronWorkflow",
        "argoproj.io",
        "v1alpha1",
        "cronworkflows",
        short=("cwf", "cronwf"),
        schema="argo-workflows/schema.json",
    ),
    Kind("WorkflowTaskResult", "argoproj.io", "v1alpha1", "workflowtaskresults"),
    Kind(
        "WorkflowEventBinding", "argoproj.io", "v1alpha1", "workfloweventbindings", short=("wfeb",)
    ),
    Kind("ServiceMonitor", "monitoring.coreos.com", "v1", "servicemonitors", short=("smon",)),
    Kind("PodMonitor", "monitoring.coreos.com", "v1", "podmonitors", short=("pmon",)),
    Kind("PrometheusRule", "monitoring.coreos.com", "v1", "prometheusrules", short=("promrule",)),
    Kind("Prometheus", "monitoring.coreos.com", "v1", "prometheuses", short=("prom",)),
    Kind("Alertmanager", "monitoring.coreos.com", "v1", "alertmanagers", short=("am",)),
    Kind(
        "AlertmanagerConfig",
        "monitoring.coreos.com",
        "v1alpha1",
        "alertmanagerconfigs",
        short=("amcfg",),
    ),
    Kind("VirtualService", "networking.istio.io", "v1beta1", "virtualservices", short=("vs",)),
    Kind("DestinationRule", "networking.istio.io", "v1beta1", "destinationrules", short=("dr",)),
    Kind("Gateway", "networking.istio.io", "v1beta1", "gateways", short=("gw",)),
    Kind("ServiceEntry", "networking.istio.io", "v1beta1", "serviceentries", short=("se",)),
)

PLATFORM_SERVICES = (
    ("monitoring", "prometheus-operated", 9090),
    ("monitoring", "alertmanager-operated", 9093),
    ("monitoring", "pushgateway", 9091),
    ("mlflow", "mlflow", 5000),
)


def _obj(
    api: str, kind: str, name: str, namespace: str | None = None, **rest: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "twin-bootstrap"},
    }
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta, **rest}


def environments(checkout: Path) -> list[str]:
    """The overlays under ``environments/`` (each gets namespace ``trading-<env>``)."""
    folder = checkout / "environments"
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_dir() and p.name != "base" and (p / "kustomization.yaml").exists()
    )


def dispatch_token(home: Path) -> str:
    """The App installation token for ``github-dispatch``.

    The fake GitHub's record may carry one (``services.github.dispatch_token``); otherwise the
    twin mints ``ghs_app_twin_<hex>`` once and records it in state.json's env as
    ``TWIN_GITHUB_DISPATCH_TOKEN`` (the fake GitHub accepts it as an App token).
    """
    doc = state.load(home)
    offered = (doc["services"].get("github") or {}).get("dispatch_token")
    if offered:
        return str(offered)
    token = doc["env"].get("TWIN_GITHUB_DISPATCH_TOKEN")
    if not token:
        token = f"ghs_app_twin_{secrets.token_hex(16)}"
        state.set_env(home, TWIN_GITHUB_DISPATCH_TOKEN=token)
    return str(token)


def platform_objects(home: Path, checkout: Path) -> list[dict[str, Any]]:
    """Namespaces, config, secret, service accounts and platform Services (after the CRDs)."""
    envs = environments(checkout)
    namespaces = [
        "default",
        "argo",
        "argo-rollouts",
        "monitoring",
        "mlflow",
        *(f"trading-{e}" for e in envs),
    ]
    objects = [_obj("v1", "Namespace", n) for n in namespaces]
    objects.append(
        _obj(
            "v1",
            "ConfigMap",
            "pipelines-config",
            "argo",
            data={
                "mlflow-tracking-uri": MLFLOW_URI,
                # as Terraform's kubernetes-objects module writes it (the DVC bucket's cache/)
                "dvc-remote-url": f"s3://{bucket_names(checkout).dvc}/cache",
                "github-repository": REPOSITORY,
                "github-api-url": "http://github.twin.internal/api/v3",
                "prometheus-url": "http://prometheus-operated.monitoring.svc:9090",
                "pushgateway-url": "http://pushgateway.monitoring.svc:9091",
            },
        )
    )
    objects.append(
        _obj(
            "v1",
            "Secret",
            "github-dispatch",
            "argo",
            type="Opaque",
            stringData={"token": dispatch_token(home)},
        )
    )
    objects += [_obj("v1", "ServiceAccount", n, "argo") for n in ("deployer", "pipelines")]
    for namespace, name, port in PLATFORM_SERVICES:
        objects.append(
            _obj(
                "v1",
                "Service",
                name,
                namespace,
                spec={"ports": [{"name": "http", "port": port, "targetPort": port}]},
            )
        )
    return objects


def default_shared(checkout: Path) -> Path | None:
    """``$PIPELINES_SHARED`` or ``../shared`` beside the checkout (None when absent)."""
    path = Path(os.environ.get("PIPELINES_SHARED") or checkout.resolve().parent / "shared")
    return path if (path / "schemas").is_dir() else None


def workflow_templates(checkout: Path, shared: Path | None) -> list[dict[str, Any]]:
    """The Argo objects of ``deploy/argo/*.yaml``, in namespace ``argo``, schema-checked.

    Raises:
        TwinError: A document fails the Argo Workflows schema (file, object and field named).
    """
    found = []
    for path in sorted((checkout / "deploy" / "argo").glob("*.yaml")):
        source = str(path.relative_to(checkout))
        docs = load_documents(path.read_text(encoding="utf-8"), source)
        findings = validate_objects(shared, source, docs) if shared is not None else []
        if findings:
            raise TwinError(f"bootstrap: {findings[0]}")
        for obj in docs:
            obj.setdefault("metadata", {})["namespace"] = "argo"
            found.append(obj)
    return found


def _apply(kube_url: str, objects: list[dict[str, Any]], what: str) -> None:
    text = yaml.safe_dump_all(objects, sort_keys=False)
    answer = httpx.post(
        f"{kube_url}/v1/kubectl",
        timeout=60,
        json={"argv": ["apply", "--server-side", "--validate=strict", "-f", "-"], "stdin": text},
    )
    body = answer.json()
    if answer.status_code != 200 or body.get("code") != 0:
        raise TwinError(f"bootstrap ({what}): {body.get('stderr') or answer.text}")


def bootstrap(home: Path, checkout: Path) -> None:
    """Install everything (see module doc) into the cluster registered under ``home``.

    Raises:
        TwinError: The cluster is not running, or an object is refused (a template that
            fails the Argo schema names the file and field).
    """
    try:
        kube_url = str(state.service(home, "cluster")["kube_url"])
    except KeyError:
        raise TwinError(
            "bootstrap: the cluster is not running (python -m twin cluster-serve)"
        ) from None
    _apply(kube_url, [crd_object(k) for k in CRDS], "CRDs")
    _apply(kube_url, platform_objects(home, checkout), "platform objects")
    _apply(
        kube_url,
        workflow_templates(checkout, default_shared(checkout)),
        "deploy/argo WorkflowTemplates",
    )
