variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name; the EKS cluster is named after it."
}

variable "kubernetes_version" {
  type        = string
  description = "EKS Kubernetes minor version."
  default     = "1.33"
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets for the control-plane ENIs and the nodes."
}

variable "endpoint_public_access" {
  type        = bool
  description = "Expose the Kubernetes API publicly; false keeps it inside the VPC (apply the argo module from a runner in the VPC)."
  default     = false
}

variable "node_groups" {
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gb   = number
    labels         = map(string)
    taints = list(object({
      key    = string
      value  = string
      effect = string
    }))
  }))
  description = "Managed node groups by name. capacity_type is SPOT (dev, staging) or ON_DEMAND (prod); taints keep other pods off a group (the runners')."

  validation {
    condition     = alltrue([for group in values(var.node_groups) : contains(["SPOT", "ON_DEMAND"], group.capacity_type)])
    error_message = "capacity_type must be SPOT or ON_DEMAND."
  }

  validation {
    condition     = alltrue(flatten([for group in values(var.node_groups) : [for taint in group.taints : contains(["NoSchedule", "NoExecute", "PreferNoSchedule"], taint.effect)]]))
    error_message = "A taint's effect must be NoSchedule, NoExecute or PreferNoSchedule."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days to keep the EKS control-plane logs."
  default     = 365
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource (on top of the provider's default_tags)."
}

variable "autoscaler_chart_version" {
  type        = string
  description = "Pinned version of the kubernetes/autoscaler cluster-autoscaler Helm chart."
  default     = "9.59.0"
}

variable "autoscaler_image_tag" {
  type        = string
  description = "Cluster autoscaler image tag: the release that matches kubernetes_version's minor."
  default     = "v1.33.0"
}

variable "cluster_admin_arns" {
  type        = list(string)
  description = "IAM roles or users granted cluster admin through EKS access entries (operators, break-glass)."
  default     = []
}
