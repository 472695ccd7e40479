variable "environment" {
  type        = string
  description = "Environment name: dev, staging or prod (also the GitHub environment)."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "project" {
  type        = string
  description = "Project name, the first part of every resource name and the Project tag."
}

variable "region" {
  type        = string
  description = "AWS region."
}

variable "availability_zones" {
  type        = list(string)
  description = "Availability zones of the region to use."
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR block of the VPC."
}

variable "single_nat_gateway" {
  type        = bool
  description = "One shared NAT gateway (dev, staging) or one per AZ (prod)."
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
  }))
  description = "EKS managed node groups (see the compute module)."
}

variable "db_instance_class" {
  type        = string
  description = "RDS instance class of the MLflow backend store."
}

variable "db_multi_az" {
  type        = bool
  description = "Multi-AZ standby for the database."
}

variable "db_deletion_protection" {
  type        = bool
  description = "Deletion protection for the database."
}

variable "db_backup_retention_days" {
  type        = number
  description = "Days of automated database backups."
}

variable "controller_replicas" {
  type        = number
  description = "Replicas of the Argo controllers."
}

variable "mlflow_replicas" {
  type        = number
  description = "Replicas of the MLflow tracking server."
}

variable "github_repository" {
  type        = string
  description = "OWNER/REPO of this repository: the only one whose workflows may assume the CI role."
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create the GitHub OIDC provider in this account (false if another stack in the same account owns it)."
}

variable "exchanges" {
  type        = list(string)
  description = "Exchanges that get an (empty) API-key secret."
}

variable "alarm_emails" {
  type        = list(string)
  description = "E-mail addresses subscribed to the alarm topic."
}
