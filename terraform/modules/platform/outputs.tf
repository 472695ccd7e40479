output "common_tags" {
  description = "Environment, Project and ManagedBy: the root's aws provider sets them as default_tags."
  value       = local.common_tags
}

output "region" {
  description = "AWS region of the environment (the root's providers use it)."
  value       = var.settings.region
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.compute.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API endpoint (private), for the root's helm provider."
  value       = module.compute.cluster_endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 CA certificate of the EKS API, for the root's helm provider."
  value       = module.compute.cluster_certificate_authority
}

output "bucket_names" {
  description = "Data buckets by role (the DVC remote is bucket_names.dvc)."
  value       = module.storage.bucket_names
}

output "github_role_arns" {
  description = "Role ARN per GitHub workflow environment: set it as AWS_ROLE_ARN in that environment."
  value       = module.identity.github_role_arns
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.monitoring.alarm_topic_arn
}

output "prometheus_remote_write_url" {
  description = "Remote-write URL of the managed Prometheus workspace."
  value       = module.monitoring.prometheus_remote_write_url
}

output "mlflow_tracking_uri" {
  description = "In-cluster MLflow tracking URI."
  value       = module.argo.mlflow_tracking_uri
}

output "argo_server_url" {
  description = "In-cluster Argo Server URL: the deploy environments' ARGO_SERVER variable."
  value       = module.argo.argo_server_url
}

output "pushgateway_url" {
  description = "In-cluster Pushgateway URL: the PUSHGATEWAY_URL variable."
  value       = module.monitoring.pushgateway_url
}

output "cluster_secret_arns" {
  description = "Secrets Manager entries to fill before the first deploy (synced into the cluster)."
  value       = module.cluster_base.secret_arns
}

output "workload_role_arns" {
  description = "IAM role of each workload's service account (EKS Pod Identity)."
  value       = module.argo.workload_role_arns
}
