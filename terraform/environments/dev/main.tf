module "network" {
  source = "../../modules/network"

  name_prefix        = local.name_prefix
  vpc_cidr           = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = var.single_nat_gateway
  tags               = local.common_tags
}

module "storage" {
  source = "../../modules/storage"

  name_prefix              = local.name_prefix
  private_subnet_ids       = module.network.private_subnet_ids
  vpc_id                   = module.network.vpc_id
  allowed_cidrs            = module.network.private_subnet_cidrs
  db_instance_class        = var.db_instance_class
  db_multi_az              = var.db_multi_az
  db_deletion_protection   = var.db_deletion_protection
  db_backup_retention_days = var.db_backup_retention_days
  tags                     = local.common_tags
}

module "compute" {
  source = "../../modules/compute"

  name_prefix        = local.name_prefix
  private_subnet_ids = module.network.private_subnet_ids
  node_groups        = var.node_groups
  tags               = local.common_tags
}

module "monitoring" {
  source = "../../modules/monitoring"

  name_prefix            = local.name_prefix
  db_instance_identifier = module.storage.db_instance_identifier
  alarm_emails           = var.alarm_emails
  tags                   = local.common_tags
}

module "identity" {
  source = "../../modules/identity"

  name_prefix          = local.name_prefix
  github_repository    = var.github_repository
  github_environments  = [var.environment]
  create_oidc_provider = var.create_oidc_provider
  data_bucket_arns     = values(module.storage.bucket_arns)
  data_kms_key_arn     = module.storage.kms_key_arn
  eks_cluster_arn      = module.compute.cluster_arn
  exchanges            = var.exchanges
  tags                 = local.common_tags
}

module "argo" {
  source = "../../modules/argo"

  name_prefix                = local.name_prefix
  cluster_name               = module.compute.cluster_name
  controller_replicas        = var.controller_replicas
  mlflow_replicas            = var.mlflow_replicas
  mlflow_artifact_bucket     = module.storage.bucket_names["mlflow"]
  mlflow_artifact_bucket_arn = module.storage.bucket_arns["mlflow"]
  data_kms_key_arn           = module.storage.kms_key_arn
  db_endpoint                = module.storage.db_endpoint
  tags                       = local.common_tags
}
