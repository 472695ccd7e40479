output "namespaces" {
  description = "Namespace names, available once the foundation release is installed (depend on this)."
  value       = { for name in var.namespaces : name => name }
  depends_on  = [helm_release.foundation]
}

output "synced_secrets" {
  description = "Kubernetes Secret names by namespace/name, available once their ExternalSecrets exist (depend on this)."
  value       = { for id in var.synced_secrets : id => split("/", id)[1] }
  depends_on  = [helm_release.synced_secrets]
}

output "secret_arns" {
  description = "Secrets Manager entries the cluster's Secrets are synced from, by purpose (store the values out of band)."
  value       = { for key, secret in aws_secretsmanager_secret.cluster : key => secret.arn }
}

output "chart_versions" {
  description = "Installed chart versions by release."
  value = {
    external_secrets = helm_release.external_secrets.version
  }
}
