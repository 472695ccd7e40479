variable "namespaces" {
  type        = map(string)
  description = "Namespaces by name, from modules/cluster-base (referencing them orders the releases after the foundation)."

  validation {
    condition     = alltrue([for name in ["istio-system", "istio-ingress"] : contains(keys(var.namespaces), name)])
    error_message = "namespaces needs istio-system and istio-ingress."
  }
}

variable "istio_version" {
  type        = string
  description = "Pinned Istio release: the version of the base, istiod and gateway charts."
  default     = "1.30.3"
}

variable "istiod_replicas" {
  type        = number
  description = "istiod replicas (2 in prod)."
  default     = 1
}

variable "gateway_replicas" {
  type        = number
  description = "Ingress gateway replicas (2 in prod)."
  default     = 1
}
