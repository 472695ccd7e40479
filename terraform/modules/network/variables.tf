variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name, e.g. trading-dev."
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR block of the VPC (a /16 leaves room for /20 private subnets per AZ)."

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Availability zones to spread the subnets over (at least two: EKS and RDS subnet groups need two)."

  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "At least two availability zones are required."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One shared NAT gateway (cheap, dev/staging) instead of one per availability zone (highly available, prod)."
}

variable "flow_log_retention_days" {
  type        = number
  description = "Days to keep VPC flow logs in CloudWatch Logs."
  default     = 365
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource (on top of the provider's default_tags)."
}
