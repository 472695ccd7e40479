output "github_role_arns" {
  description = "Role ARN per GitHub workflow environment: set it as that environment's AWS_ROLE_ARN variable."
  value       = { for env, role in aws_iam_role.github : env => role.arn }
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider the roles trust."
  value       = local.oidc_provider_arn
}

output "exchange_secret_arns" {
  description = "Secrets Manager ARN per exchange (empty until someone stores the key)."
  value       = { for name, secret in aws_secretsmanager_secret.exchange : name => secret.arn }
}

output "secrets_kms_key_arn" {
  description = "KMS key of the stack's Secrets Manager entries (exchange keys, the cluster's credentials)."
  value       = aws_kms_key.secrets.arn
}
