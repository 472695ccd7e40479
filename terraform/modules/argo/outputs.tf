output "release_versions" {
  description = "Installed chart versions by release: what the cluster runs."
  value = {
    argo_rollouts  = helm_release.argo_rollouts.version
    argo_workflows = helm_release.argo_workflows.version
    mlflow         = helm_release.mlflow.version
  }
}

output "mlflow_tracking_uri" {
  description = "In-cluster MLflow tracking URI."
  value       = "http://mlflow.${helm_release.mlflow.namespace}.svc.cluster.local:${local.mlflow_port}"
}

output "argo_server_url" {
  description = "In-cluster Argo Server URL (the deploy jobs' ARGO_SERVER variable)."
  value       = "http://argo-workflows-server.${helm_release.argo_workflows.namespace}.svc:2746"
}

output "workload_role_arns" {
  description = "IAM role each workload assumes through EKS Pod Identity, by workload."
  value       = { for name, role in aws_iam_role.workload : name => role.arn }
}
