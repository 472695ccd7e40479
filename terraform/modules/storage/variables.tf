variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name, e.g. trading-dev."
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets for the RDS subnet group (two AZs at least)."
}

variable "vpc_id" {
  type        = string
  description = "VPC of the database security group."
}

variable "allowed_cidrs" {
  type        = list(string)
  description = "CIDR blocks allowed to reach PostgreSQL: the private subnets, never 0.0.0.0/0."

  validation {
    condition     = alltrue([for cidr in var.allowed_cidrs : !contains(["0.0.0.0/0", "::/0"], cidr)])
    error_message = "The database must not be open to the internet."
  }
}

variable "db_instance_class" {
  type        = string
  description = "RDS instance class of the MLflow backend store (e.g. db.t4g.micro in dev)."
}

variable "db_allocated_storage_gb" {
  type        = number
  description = "Initial gp3 storage of the database, in GiB."
  default     = 20
}

variable "db_max_allocated_storage_gb" {
  type        = number
  description = "Storage autoscaling ceiling of the database, in GiB."
  default     = 100
}

variable "db_engine_version" {
  type        = string
  description = "PostgreSQL major version (the parameter group family follows it)."
  default     = "16"
}

variable "db_multi_az" {
  type        = bool
  description = "Standby replica in a second AZ (prod) or single AZ (dev, staging)."
}

variable "db_deletion_protection" {
  type        = bool
  description = "Refuse to delete the database (true in prod)."
}

variable "db_backup_retention_days" {
  type        = number
  description = "Days of automated backups and point-in-time recovery."

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 7 and 35."
  }
}

variable "raw_object_lock_days" {
  type        = number
  description = "Governance-mode Object Lock retention of the raw archive: raw data is immutable."
  default     = 30
}

variable "access_log_retention_days" {
  type        = number
  description = "Days to keep S3 server access logs."
  default     = 365
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource (on top of the provider's default_tags)."
}
