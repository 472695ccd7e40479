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
