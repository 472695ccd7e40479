# The whole stack of one environment: every module wired together. Each environments/<env>/ root
# calls this once with the sizing from its terraform.tfvars; nothing here differs between envs.
locals {
  # Every AWS resource gets these through the provider's default_tags; modules also set them.
  common_tags = {
    Environment = var.settings.environment
    Project     = var.settings.project
    ManagedBy   = "terraform"
  }
  name_prefix = "${var.settings.project}-${var.settings.environment}"
}

module "network" {
  source = "../network"

  name_prefix        = local.name_prefix
  vpc_cidr           = var.settings.vpc_cidr
  availability_zones = var.settings.availability_zones
  single_nat_gateway = var.settings.single_nat_gateway
  tags               = local.common_tags
}

module "storage" {
  source = "../storage"

  name_prefix              = local.name_prefix
  private_subnet_ids       = module.network.private_subnet_ids
  vpc_id                   = module.network.vpc_id
  allowed_cidrs            = module.network.private_subnet_cidrs
  db_instance_class        = var.settings.db_instance_class
  db_multi_az              = var.settings.db_multi_az
  db_deletion_protection   = var.settings.db_deletion_protection
  db_backup_retention_days = var.settings.db_backup_retention_days
  tags                     = local.common_tags
}

module "compute" {
  source = "../compute"

  name_prefix        = local.name_prefix
  private_subnet_ids = module.network.private_subnet_ids
  node_groups        = var.settings.node_groups
  tags               = local.common_tags
}

module "monitoring" {
  source = "../monitoring"

  name_prefix            = local.name_prefix
  db_instance_identifier = module.storage.db_instance_identifier
  alarm_emails           = var.settings.alarm_emails
  tags                   = local.common_tags
}

module "identity" {
  source = "../identity"

  name_prefix           = local.name_prefix
  github_repository     = var.settings.github_repository
  workflow_environments = var.settings.github_workflow_environments
  create_oidc_provider  = var.settings.create_oidc_provider
  bucket_arns           = module.storage.bucket_arns
  data_kms_key_arn      = module.storage.kms_key_arn
  exchanges             = var.settings.exchanges
  tags                  = local.common_tags
}

# The GitHub Actions runners of the platform jobs, in the stack that holds their roles.
module "runners" {
  source = "../runners"
  count  = length(var.settings.github_workflow_environments) > 0 ? 1 : 0

  github_repository = var.settings.github_repository
}

module "argo" {
  source = "../argo"

  name_prefix                = local.name_prefix
  cluster_name               = module.compute.cluster_name
  controller_replicas        = var.settings.controller_replicas
  mlflow_replicas            = var.settings.mlflow_replicas
  mlflow_artifact_bucket     = module.storage.bucket_names["mlflow"]
  mlflow_artifact_bucket_arn = module.storage.bucket_arns["mlflow"]
  data_kms_key_arn           = module.storage.kms_key_arn
  db_endpoint                = module.storage.db_endpoint
  tags                       = local.common_tags
}
