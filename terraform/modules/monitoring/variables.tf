variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name, e.g. trading-dev."
}

variable "log_retention_days" {
  type        = number
  description = "Days to keep application log groups."
  default     = 365
}

variable "alarm_emails" {
  type        = list(string)
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription)."
  default     = []
}

variable "db_instance_identifier" {
  type        = string
  description = "RDS instance whose CPU, storage and connections are alarmed."
}

variable "db_cpu_threshold_percent" {
  type        = number
  description = "Average CPU above which the database alarm fires."
  default     = 80
}

variable "db_free_storage_threshold_bytes" {
  type        = number
  description = "Free storage below which the database alarm fires."
  default     = 2147483648
}

variable "service_error_threshold" {
  type        = number
  description = "ERROR log lines per 5 minutes from the strategy service above which the alarm fires."
  default     = 10
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource (on top of the provider's default_tags)."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster the monitoring stack is installed into (Prometheus' pod identity)."
}

variable "namespaces" {
  type        = map(string)
  description = "Namespaces by name, from modules/cluster-base (referencing them orders the releases after the foundation)."

  validation {
    condition     = contains(keys(var.namespaces), "monitoring")
    error_message = "namespaces needs monitoring."
  }
}

variable "prometheus_rules_yaml" {
  type        = string
  description = "monitoring/prometheus/rules/*.rules.yml by name (modules/kubernetes-objects)."
}

variable "alertmanager_config_yaml" {
  type        = string
  description = "monitoring/alertmanager/alertmanager.yml (modules/kubernetes-objects)."
}

variable "alertmanager_secret" {
  type        = string
  description = "Kubernetes Secret with the receivers' credentials, mounted at /etc/alertmanager/secrets (modules/cluster-base output synced_secrets)."
}

variable "dashboard_values" {
  type        = string
  description = "Helm values of the dashboards release: the Grafana dashboard ConfigMaps (modules/kubernetes-objects)."
}

variable "scrape_interval" {
  type        = string
  description = "Prometheus scrape interval the rules are written for (monitoring/prometheus/prometheus.yml)."
}

variable "evaluation_interval" {
  type        = string
  description = "Prometheus rule evaluation interval the rules are written for (monitoring/prometheus/prometheus.yml)."
}

variable "prometheus_replicas" {
  type        = number
  description = "Prometheus replicas (2 in prod: rules keep evaluating through a node loss)."
  default     = 1
}

variable "alertmanager_replicas" {
  type        = number
  description = "Alertmanager replicas (clustered, notifications deduplicated)."
  default     = 1
}

variable "prometheus_retention" {
  type        = string
  description = "How long the in-cluster Prometheus keeps samples (the managed workspace keeps them longer)."
  default     = "15d"
}

variable "prometheus_volume_gb" {
  type        = number
  description = "Size of each Prometheus replica's gp3 volume, in GiB."
  default     = 50
}

variable "kube_prometheus_stack_chart_version" {
  type        = string
  description = "Pinned version of the prometheus-community kube-prometheus-stack chart."
  default     = "88.5.3"
}

variable "pushgateway_chart_version" {
  type        = string
  description = "Pinned version of the prometheus-community prometheus-pushgateway chart."
  default     = "3.8.0"
}

variable "manifests_chart_version" {
  type        = string
  description = "Version of terraform/charts/manifests (its Chart.yaml)."
  default     = "1.0.0"
}
