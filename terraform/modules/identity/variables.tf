variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name, e.g. trading-dev."
}

variable "github_repository" {
  type        = string
  description = "The one repository (OWNER/REPO) whose workflows may assume the roles."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like OWNER/REPO (no wildcards)."
  }
}

variable "workflow_environments" {
  type        = list(string)
  description = "GitHub workflow environments that get a role in this stack (data, training, health, promote-staging, promote-prod); each role trusts only repo:OWNER/REPO:environment:<name>."

  validation {
    condition = alltrue([
      for env in var.workflow_environments :
      contains(["data", "training", "health", "promote-staging", "promote-prod"], env)
    ])
    error_message = "workflow_environments: each must be one of data, training, health, promote-staging, promote-prod (the environments whose jobs use AWS)."
  }
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider (one per account: false where another stack owns it)."
  default     = true
}

variable "bucket_arns" {
  type        = map(string)
  description = "Data bucket ARNs by role: dvc (DVC remote), raw (market-data landing and raw archive), mlflow (MLflow artifacts)."

  validation {
    condition     = alltrue([for role in ["dvc", "raw", "mlflow"] : contains(keys(var.bucket_arns), role)])
    error_message = "bucket_arns needs the keys dvc, raw and mlflow."
  }
}

variable "data_kms_key_arn" {
  type        = string
  description = "KMS key of the data buckets."
}

variable "exchanges" {
  type        = list(string)
  description = "Exchanges that get a Secrets Manager entry for their API key (values are set out of band)."
  default     = []
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted secret can still be restored."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource (on top of the provider's default_tags)."
}
