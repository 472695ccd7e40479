variable "name_prefix" {
  type        = string
  description = "Prefix for every AWS resource name, e.g. trading-prod."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster the foundation is installed into."
}

variable "foundation_values" {
  type        = string
  description = "Helm values of the foundation release: namespaces and storage class (modules/kubernetes-objects)."
}

variable "namespaces" {
  type        = list(string)
  description = "Names of the namespaces the foundation release creates."
}

variable "external_secret_values" {
  type        = string
  description = "Helm values of the synced-secrets release: ClusterSecretStore and ExternalSecrets (modules/kubernetes-objects)."
}

variable "synced_secrets" {
  type        = list(string)
  description = "namespace/name of every Kubernetes Secret the ExternalSecrets create."
}

variable "secret_names" {
  type        = map(string)
  description = "Secrets Manager names of the cluster's credentials by purpose (github_dispatch, alertmanager_receivers, arc_github_app)."

  validation {
    condition     = alltrue([for key in keys(var.secret_names) : contains(["github_dispatch", "alertmanager_receivers", "arc_github_app"], key)])
    error_message = "secret_names: keys must be github_dispatch, alertmanager_receivers or arc_github_app."
  }
}

variable "secrets_kms_key_arn" {
  type        = string
  description = "KMS key of the stack's Secrets Manager entries (modules/identity)."
}

variable "db_master_secret_arn" {
  type        = string
  description = "The RDS-managed master secret of the MLflow database (synced as mlflow/mlflow-db-credentials)."
}

variable "db_secret_kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the RDS-managed master secret (the data key)."
}

variable "manifests_chart_version" {
  type        = string
  description = "Version of terraform/charts/manifests (its Chart.yaml)."
  default     = "1.0.0"
}

variable "external_secrets_chart_version" {
  type        = string
  description = "Pinned version of the external-secrets Helm chart."
  default     = "2.9.0"
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable AWS resource (on top of the provider's default_tags)."
}
