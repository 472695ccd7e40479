variable "name_prefix" {
  type        = string
  description = "Prefix of the stack's AWS names, e.g. trading-prod (Secrets Manager names start with it)."
}

variable "source_root" {
  type        = string
  description = "Repository root: monitoring/ (rules, Alertmanager routing, dashboards, intervals) and deploy/argo/ (WorkflowTemplates) are read from it."
}

variable "region" {
  type        = string
  description = "AWS region of Secrets Manager (the ClusterSecretStore)."
}

variable "github_repository" {
  type        = string
  description = "OWNER/REPO of this repository: the Argo templates' dispatches and the only repository a deploy may check out."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like OWNER/REPO."
  }
}

variable "github_api_url" {
  type        = string
  description = "GitHub REST API base URL for the rollback dispatch (GitHub Enterprise Server differs)."
  default     = "https://api.github.com"
}

variable "bucket_names" {
  type        = map(string)
  description = "Data bucket names by role: dvc (DVC remote), raw (market-data landing and archive), mlflow (MLflow artifacts)."

  validation {
    condition     = alltrue([for role in ["dvc", "raw", "mlflow"] : contains(keys(var.bucket_names), role)])
    error_message = "bucket_names needs the keys dvc, raw and mlflow."
  }
}

variable "mlflow_tracking_uri" {
  type        = string
  description = "In-cluster MLflow tracking URI (the pipelines-config ConfigMap hands it to the Argo templates)."
}

variable "db_endpoint" {
  type        = string
  description = "host:port of the MLflow PostgreSQL database (the nightly backup connects to it)."
}

variable "db_master_secret_arn" {
  type        = string
  description = "The RDS-managed master secret of the MLflow database (JSON: username, password)."
}

variable "runners_enabled" {
  type        = bool
  description = "Whether this stack runs the GitHub Actions runner scale set (its namespaces and App secret)."
}

variable "workspace_file_system_id" {
  type        = string
  description = "EFS file system behind StorageClass efs (the data template's ReadWriteMany workspace; modules/compute)."
}
