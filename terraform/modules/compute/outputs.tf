output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 CA certificate of the Kubernetes API."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "node_role_arn" {
  description = "IAM role of the worker nodes."
  value       = aws_iam_role.node.arn
}

output "autoscaler_chart_version" {
  description = "Installed cluster-autoscaler chart version."
  value       = helm_release.autoscaler.version
}

output "workspace_file_system_id" {
  description = "EFS file system of the workflows' shared workspaces (StorageClass efs)."
  value       = aws_efs_file_system.workspaces.id
}
