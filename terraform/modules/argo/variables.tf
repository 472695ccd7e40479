variable "name_prefix" {
  type        = string
  description = "Prefix for every AWS resource name, e.g. trading-dev."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster the releases are installed into (for the MLflow pod identity)."
}

variable "argo_rollouts_chart_version" {
  type        = string
  description = "Pinned version of the argo/argo-rollouts Helm chart."
  default     = "2.40.2"
}

variable "argo_workflows_chart_version" {
  type        = string
  description = "Pinned version of the argo/argo-workflows Helm chart."
  default     = "2.0.1"
}

variable "mlflow_chart_version" {
  type        = string
  description = "Pinned version of the community-charts/mlflow Helm chart."
  default     = "1.12.0"
}

variable "controller_replicas" {
  type        = number
  description = "Replicas of the Argo Rollouts and Workflows controllers (2 in prod for leader-elected failover)."
  default     = 1
}

variable "mlflow_replicas" {
  type        = number
  description = "Replicas of the MLflow tracking server."
  default     = 1
}

variable "mlflow_artifact_bucket" {
  type        = string
  description = "Name of the S3 bucket that holds MLflow artifacts."
}

variable "mlflow_artifact_bucket_arn" {
  type        = string
  description = "ARN of the MLflow artifact bucket (scopes the MLflow IAM policy)."
}

variable "data_kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the artifact bucket."
}

variable "db_endpoint" {
  type        = string
  description = "host:port of the MLflow PostgreSQL backend store."
}

variable "db_credentials_secret_name" {
  type        = string
  description = "Kubernetes Secret in the mlflow namespace holding username/password, synced from the RDS-managed secret (kept out of Terraform state)."
  default     = "mlflow-db-credentials"
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable AWS resource (on top of the provider's default_tags)."
}
