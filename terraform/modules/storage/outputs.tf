output "bucket_names" {
  description = "Bucket names by role: dvc (DVC remote), raw (raw-data archive), mlflow (MLflow artifacts)."
  value = {
    dvc    = module.dvc_bucket.name
    raw    = module.raw_bucket.name
    mlflow = module.mlflow_bucket.name
  }
}

output "bucket_arns" {
  description = "Bucket ARNs by role."
  value = {
    dvc    = module.dvc_bucket.arn
    raw    = module.raw_bucket.arn
    mlflow = module.mlflow_bucket.arn
  }
}

output "kms_key_arn" {
  description = "Customer-managed KMS key that encrypts the buckets and the database."
  value       = aws_kms_key.data.arn
}

output "db_endpoint" {
  description = "Host:port of the MLflow backend store."
  value       = aws_db_instance.mlflow.endpoint
}

output "db_instance_identifier" {
  description = "RDS instance identifier (for CloudWatch alarms)."
  value       = aws_db_instance.mlflow.identifier
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret that RDS manages for the master password (never in state as a literal)."
  value       = aws_db_instance.mlflow.master_user_secret[0].secret_arn
}
