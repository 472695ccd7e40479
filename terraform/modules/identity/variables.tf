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

variable "github_environments" {
  type        = list(string)
  description = "GitHub environments that get a role; each role trusts only repo:OWNER/REPO:environment:<name>."

  validation {
    condition     = alltrue([for env in var.github_environments : can(regex("^[A-Za-z0-9_-]+$", env))])
    error_message = "GitHub environment names must not contain wildcards or separators."
  }
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider (one per account: false where another stack owns it)."
  default     = true
}

variable "data_bucket_arns" {
  type        = list(string)
  description = "Buckets the CI roles read and write (DVC remote, raw archive, MLflow artifacts)."
}

variable "data_kms_key_arn" {
  type        = string
  description = "KMS key of the data buckets."
}

variable "eks_cluster_arn" {
  type        = string
  description = "EKS cluster the deploy workflows describe (to build a kubeconfig)."
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
