variable "github_repository" {
  type        = string
  description = "OWNER/REPO whose workflows the runners serve (runners are registered to this repository only)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like OWNER/REPO."
  }
}

variable "runner_set_name" {
  type        = string
  description = "Runner scale set name: the runs-on label of the platform jobs (.github/actionlint.yaml)."
  default     = "trading-platform"
}

variable "arc_chart_version" {
  type        = string
  description = "Pinned version of the gha-runner-scale-set-controller and gha-runner-scale-set charts."
  default     = "0.13.1"
}

variable "runner_image" {
  type        = string
  description = "Runner image (GitHub's actions-runner image, pinned by tag)."
  default     = "ghcr.io/actions/actions-runner:2.330.0"
}

variable "github_config_secret" {
  type        = string
  description = "Kubernetes Secret in arc-runners with the GitHub App credentials the scale set registers with (modules/cluster-base output synced_secrets)."
}

variable "namespaces" {
  type        = map(string)
  description = "Namespaces by name, from modules/cluster-base (referencing them orders the releases after the foundation)."

  validation {
    condition     = alltrue([for name in ["arc-systems", "arc-runners"] : contains(keys(var.namespaces), name)])
    error_message = "namespaces needs arc-systems and arc-runners."
  }
}

variable "node_selector" {
  type        = map(string)
  description = "Labels of the runners' node group (the runner pods are placed there)."
}

variable "node_taints" {
  type = list(object({
    key    = string
    value  = string
    effect = string
  }))
  description = "Taints of the runners' node group, tolerated by the runner pods."
}

variable "min_runners" {
  type        = number
  description = "Runners kept warm (0: scale to zero between scheduled runs)."
  default     = 0
}

variable "max_runners" {
  type        = number
  description = "Most runners at once (data, training, health and deploys can overlap)."
  default     = 4
}
