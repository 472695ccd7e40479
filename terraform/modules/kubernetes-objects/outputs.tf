# Objects are handed over as Helm values documents (YAML strings): a list of differently shaped
# objects has no Terraform type other than `any`, which only an environment root may use.
output "foundation_values" {
  description = "Helm values (manifests chart): the platform's namespaces and the default storage class."
  value       = yamlencode({ manifests = concat(local.namespace_objects, [local.storage_class, local.efs_storage_class]) })
}

output "delivery_values" {
  description = "Helm values (manifests chart): pipelines-config, the templates' accounts and RBAC, the deploy jobs' accounts and their admission policy."
  value       = yamlencode({ manifests = concat([local.pipelines_config], local.service_accounts, local.rbac, local.deploy_scope) })
}

output "workflow_template_values" {
  description = "Helm values (manifests chart): deploy/argo/*.yaml verbatim (namespace argo)."
  value       = yamlencode({ manifests = local.workflow_templates })
}

output "external_secret_values" {
  description = "Helm values (manifests chart): the ClusterSecretStore and the ExternalSecrets."
  value       = yamlencode({ manifests = local.external_secrets })
}

output "dashboard_values" {
  description = "Helm values (manifests chart): one ConfigMap per monitoring/grafana/*.json for the Grafana sidecar."
  value       = yamlencode({ manifests = local.dashboards })
}

output "prometheus_rules_yaml" {
  description = "monitoring/prometheus/rules/*.rules.yml by name (kube-prometheus-stack additionalPrometheusRulesMap)."
  value       = yamlencode(local.prometheus_rules)
}

output "alertmanager_config_yaml" {
  description = "monitoring/alertmanager/alertmanager.yml (kube-prometheus-stack alertmanager.config)."
  value       = yamlencode(local.alertmanager_config)
}

output "alertmanager_secret_keys" {
  description = "Keys of the alertmanager-receivers Secret (files under /etc/alertmanager/secrets)."
  value       = local.alertmanager_secret_keys
}

output "scrape_interval" {
  description = "Prometheus scrape interval from monitoring/prometheus/prometheus.yml."
  value       = local.prometheus_global.scrape_interval
}

output "evaluation_interval" {
  description = "Prometheus rule evaluation interval from monitoring/prometheus/prometheus.yml."
  value       = local.prometheus_global.evaluation_interval
}

output "namespaces" {
  description = "Names of the namespaces the foundation creates."
  value       = sort(keys(local.namespace_labels))
}

output "synced_secrets" {
  description = "Kubernetes Secrets the ExternalSecrets create, as namespace/name."
  value       = sort([for object in local.external_secrets : "${object.metadata.namespace}/${object.spec.target.name}" if object.kind == "ExternalSecret"])
}

output "cluster_secret_names" {
  description = "Secrets Manager names of the cluster's credentials by purpose (created empty by modules/cluster-base)."
  value       = local.cluster_secret_names
}

output "workload_access" {
  description = "Bucket roles each workload's service account reads and writes (EKS Pod Identity, modules/argo)."
  value       = local.workload_access
}

output "trading_namespaces" {
  description = "Namespace of each model environment."
  value       = local.trading_namespaces
}
