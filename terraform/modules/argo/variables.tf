variable "name_prefix" {
  type        = string
  description = "Prefix for every AWS resource name, e.g. trading-dev."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster the releases are installed into (for the pod identities)."
}

variable "namespaces" {
  type        = map(string)
  description = "Namespaces by name, from modules/cluster-base (referencing them orders the releases after the foundation)."

  validation {
    condition     = alltrue([for name in ["argo", "argo-rollouts", "mlflow"] : contains(keys(var.namespaces), name)])
    error_message = "namespaces needs argo, argo-rollouts and mlflow."
  }
}

variable "delivery_values" {
  type        = string
  description = "Helm values of the delivery release (modules/kubernetes-objects)."
}

variable "workflow_template_values" {
  type        = string
  description = "Helm values of the workflow-templates release: deploy/argo/*.yaml (modules/kubernetes-objects)."
}

variable "workload_access" {
  type = map(object({
    namespace       = string
    service_account = string
    read            = list(string)
    write           = list(string)
  }))
  description = "Bucket roles each workload's service account reads and writes (modules/kubernetes-objects); needs an mlflow entry."

  validation {
    condition     = contains(keys(var.workload_access), "mlflow")
    error_message = "workload_access needs the mlflow entry (the tracking server's account)."
  }
}

variable "argo_rollouts_chart_version" {
  type        = string
  description = "Pinned version of the argo/argo-rollouts Helm chart."
  default     = "2.41.0"
}

variable "argo_workflows_chart_version" {
  type        = string
  description = "Pinned version of the argo/argo-workflows Helm chart."
  default     = "2.0.1"
}

variable "mlflow_chart_version" {
  type        = string
  description = "Pinned version of the community-charts/mlflow Helm chart."
  default     = "1.11.5"
}

variable "manifests_chart_version" {
  type        = string
  description = "Version of terraform/charts/manifests (its Chart.yaml)."
  default     = "1.0.0"
}

variable "controller_replicas" {
  type        = number
  description = "Replicas of the Argo Rollouts and Workflows controllers and the Argo Server (2 in prod for leader-elected failover)."
  default     = 1
}

variable "mlflow_replicas" {
  type        = number
  description = "Replicas of the MLflow tracking server."
  default     = 1
}

variable "bucket_names" {
  type        = map(string)
  description = "Data bucket names by role (dvc, raw, mlflow)."
}

variable "bucket_arns" {
  type        = map(string)
  description = "Data bucket ARNs by role (dvc, raw, mlflow): the workloads' policies are scoped to them."

  validation {
    condition     = alltrue([for role in ["dvc", "raw", "mlflow"] : contains(keys(var.bucket_arns), role)])
    error_message = "bucket_arns needs the keys dvc, raw and mlflow."
  }
}

variable "data_kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the data buckets."
}

variable "db_endpoint" {
  type        = string
  description = "host:port of the MLflow PostgreSQL backend store."
}

variable "db_credentials_secret" {
  type        = string
  description = "Kubernetes Secret in the mlflow namespace with username/password, synced from the RDS-managed secret (modules/cluster-base output synced_secrets)."
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable AWS resource (on top of the provider's default_tags)."
}
