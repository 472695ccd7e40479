"""Kubernetes kinds: the built-in ones and the CRDs (and Services) each installed chart brings.

Charts cannot be downloaded here, so what a chart provides is this table, kept to the kinds and
Services of the pinned releases; :mod:`pipelines.infra.inventory` counts a chart's entries only
when Terraform installs the chart (a ``helm_release`` of that chart), so removing the release
removes its kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# kind -> (API group, resource plural)
Kind = tuple[str, str]

BUILT_IN: dict[str, Kind] = {
    "Namespace": ("", "namespaces"),
    "ServiceAccount": ("", "serviceaccounts"),
    "ConfigMap": ("", "configmaps"),
    "Secret": ("", "secrets"),
    "Service": ("", "services"),
    "Pod": ("", "pods"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "Role": ("rbac.authorization.k8s.io", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "StorageClass": ("storage.k8s.io", "storageclasses"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "CustomResourceDefinition": ("apiextensions.k8s.io", "customresourcedefinitions"),
    "ValidatingAdmissionPolicy": ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    "ValidatingAdmissionPolicyBinding": (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
}


def _group(group: str, kinds: dict[str, str]) -> dict[str, Kind]:
    return {kind: (group, plural) for kind, plural in kinds.items()}


# chart name -> the CRD kinds its pinned release installs
CHART_KINDS: dict[str, dict[str, Kind]] = {
    "argo-rollouts": _group(
        "argoproj.io",
        {
            "Rollout": "rollouts",
            "AnalysisTemplate": "analysistemplates",
            "ClusterAnalysisTemplate": "clusteranalysistemplates",
            "AnalysisRun": "analysisruns",
            "Experiment": "experiments",
        },
    ),
    "argo-workflows": _group(
        "argoproj.io",
        {
            "Workflow": "workflows",
            "WorkflowTemplate": "workflowtemplates",
            "ClusterWorkflowTemplate": "clusterworkflowtemplates",
            "CronWorkflow": "cronworkflows",
            "WorkflowTaskResult": "workflowtaskresults",
            "WorkflowTaskSet": "workflowtasksets",
            "WorkflowEventBinding": "workfloweventbindings",
            "WorkflowArtifactGCTask": "workflowartifactgctasks",
        },
    ),
    "kube-prometheus-stack": _group(
        "monitoring.coreos.com",
        {
            "ServiceMonitor": "servicemonitors",
            "PodMonitor": "podmonitors",
            "PrometheusRule": "prometheusrules",
            "Probe": "probes",
            "Prometheus": "prometheuses",
            "PrometheusAgent": "prometheusagents",
            "Alertmanager": "alertmanagers",
            "AlertmanagerConfig": "alertmanagerconfigs",
            "ThanosRuler": "thanosrulers",
            "ScrapeConfig": "scrapeconfigs",
        },
    ),
    # Istio's "base" chart holds its CRDs.
    "base": {
        **_group(
            "networking.istio.io",
            {
                "VirtualService": "virtualservices",
                "DestinationRule": "destinationrules",
                "Gateway": "gateways",
                "ServiceEntry": "serviceentries",
                "Sidecar": "sidecars",
                "WorkloadEntry": "workloadentries",
                "WorkloadGroup": "workloadgroups",
                "EnvoyFilter": "envoyfilters",
                "ProxyConfig": "proxyconfigs",
            },
        ),
        **_group(
            "security.istio.io",
            {
                "PeerAuthentication": "peerauthentications",
                "AuthorizationPolicy": "authorizationpolicies",
                "RequestAuthentication": "requestauthentications",
            },
        ),
        **_group("telemetry.istio.io", {"Telemetry": "telemetries"}),
    },
    "external-secrets": _group(
        "external-secrets.io",
        {
            "ExternalSecret": "externalsecrets",
            "SecretStore": "secretstores",
            "ClusterSecretStore": "clustersecretstores",
            "ClusterExternalSecret": "clusterexternalsecrets",
            "PushSecret": "pushsecrets",
        },
    ),
    "gha-runner-scale-set-controller": _group(
        "actions.github.com",
        {
            "AutoscalingRunnerSet": "autoscalingrunnersets",
            "EphemeralRunnerSet": "ephemeralrunnersets",
            "EphemeralRunner": "ephemeralrunners",
            "AutoscalingListener": "autoscalinglisteners",
        },
    ),
}

ServiceList = list[tuple[str, int]]


def _kps(release: str, values: dict[str, Any]) -> ServiceList:
    # prometheus-operated / alertmanager-operated are the operator's governing Services.
    return [
        ("prometheus-operated", 9090),
        ("alertmanager-operated", 9093),
        (f"{release}-prometheus", 9090),
        (f"{release}-alertmanager", 9093),
        (f"{release}-grafana", 80),
    ]


def _named(default_port: int) -> Callable[[str, dict[str, Any]], ServiceList]:
    def services(release: str, values: dict[str, Any]) -> ServiceList:
        name = str(values.get("fullnameOverride") or release)
        return [(name, int(values.get("service.port") or default_port))]

    return services


# chart name -> the Services it creates, from its release name and the values Terraform sets
# (fullnameOverride, service.port)
CHART_SERVICES: dict[str, Callable[[str, dict[str, Any]], ServiceList]] = {
    "argo-workflows": lambda release, values: [(f"{release}-server", 2746)],
    "kube-prometheus-stack": _kps,
    "prometheus-pushgateway": _named(9091),
    "mlflow": _named(80),
    "gateway": _named(80),
    "istiod": lambda release, values: [("istiod", 15012)],
}
