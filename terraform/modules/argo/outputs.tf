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
  value       = "http://mlflow.${local.mlflow_namespace}.svc.cluster.local:5000"
}

output "mlflow_role_arn" {
  description = "IAM role the MLflow pods assume through EKS Pod Identity."
  value       = aws_iam_role.mlflow.arn
}
