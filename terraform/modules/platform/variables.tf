# One object so that an environment root forwards its terraform.tfvars in one line. Every
# attribute is required (no optional()): a missing one is an error, and pipelines/infra checks
# that the tfvars object sets no attribute that is not declared here.
variable "settings" {
  type = object({
    environment        = string       # dev, staging or prod (also the GitHub environment)
    project            = string       # first part of every resource name, and the Project tag
    region             = string       # AWS region
    availability_zones = list(string) # availability zones of the region to use
    vpc_cidr           = string       # CIDR block of the VPC
    single_nat_gateway = bool         # one shared NAT (dev, staging) or one per AZ (prod)
    node_groups = map(object({        # EKS managed node groups (see the compute module)
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
    db_instance_class            = string       # RDS instance class of the MLflow backend store
    db_multi_az                  = bool         # Multi-AZ standby for the database
    db_deletion_protection       = bool         # deletion protection for the database
    db_backup_retention_days     = number       # days of automated database backups
    controller_replicas          = number       # replicas of the Argo controllers
    mlflow_replicas              = number       # replicas of the MLflow tracking server
    github_repository            = string       # OWNER/REPO: the only repository whose workflows may assume the CI roles
    github_workflow_environments = list(string) # GitHub environments whose OIDC role this stack holds (the pipelines' data lives in prod)
    create_oidc_provider         = bool         # false if another stack in the same account owns the GitHub OIDC provider
    exchanges                    = list(string) # exchanges that get an (empty) API-key secret
    alarm_emails                 = list(string) # e-mail addresses subscribed to the alarm topic
    cluster_admin_arns           = list(string) # IAM principals with cluster admin (EKS access entries)
  })
  description = "Sizing and identity of one environment, from its terraform.tfvars (attributes are commented in the type)."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.settings.environment)
    error_message = "settings.environment must be dev, staging or prod."
  }
}
