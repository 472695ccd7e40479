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
  # The stack that holds the GitHub roles runs their jobs' runners (pipelines/infra/sizing.py
  # requires a node group labelled workload=runners there).
  runners_enabled = length(var.settings.github_workflow_environments) > 0
  # MLflow's Service (modules/argo: release mlflow in namespace mlflow, port 5000).
  mlflow_tracking_uri = "http://mlflow.mlflow.svc.cluster.local:5000"
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
  cluster_admin_arns = var.settings.cluster_admin_arns
  tags               = local.common_tags
}

module "monitoring" {
  source = "../monitoring"

  name_prefix              = local.name_prefix
  db_instance_identifier   = module.storage.db_instance_identifier
  alarm_emails             = var.settings.alarm_emails
  cluster_name             = module.compute.cluster_name
  namespaces               = module.cluster_base.namespaces
  prometheus_rules_yaml    = module.kubernetes_objects.prometheus_rules_yaml
  alertmanager_config_yaml = module.kubernetes_objects.alertmanager_config_yaml
  alertmanager_secret      = module.cluster_base.synced_secrets["monitoring/alertmanager-receivers"]
  dashboard_values         = module.kubernetes_objects.dashboard_values
  scrape_interval          = module.kubernetes_objects.scrape_interval
  evaluation_interval      = module.kubernetes_objects.evaluation_interval
  prometheus_replicas      = var.settings.controller_replicas
  alertmanager_replicas    = var.settings.controller_replicas
  tags                     = local.common_tags
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

# Everything the cluster must hold besides the charts, from one provider-free module (tests
# evaluate it offline): namespaces, accounts, RBAC, configuration, synced secrets, templates,
# rules and dashboards read from the repository.
module "kubernetes_objects" {
  source = "../kubernetes-objects"

  name_prefix          = local.name_prefix
  source_root          = "${path.module}/../../.."
  region               = var.settings.region
  github_repository    = var.settings.github_repository
  bucket_names         = module.storage.bucket_names
  mlflow_tracking_uri  = local.mlflow_tracking_uri
  db_endpoint          = module.storage.db_endpoint
  db_master_secret_arn = module.storage.db_master_secret_arn
  runners_enabled      = local.runners_enabled

  workspace_file_system_id = module.compute.workspace_file_system_id
}

module "cluster_base" {
  source = "../cluster-base"

  name_prefix            = local.name_prefix
  cluster_name           = module.compute.cluster_name
  foundation_values      = module.kubernetes_objects.foundation_values
  namespaces             = module.kubernetes_objects.namespaces
  external_secret_values = module.kubernetes_objects.external_secret_values
  synced_secrets         = module.kubernetes_objects.synced_secrets
  secret_names           = module.kubernetes_objects.cluster_secret_names
  secrets_kms_key_arn    = module.identity.secrets_kms_key_arn
  db_master_secret_arn   = module.storage.db_master_secret_arn
  db_secret_kms_key_arn  = module.storage.kms_key_arn
  tags                   = local.common_tags
}

module "mesh" {
  source = "../mesh"

  namespaces       = module.cluster_base.namespaces
  istiod_replicas  = var.settings.controller_replicas
  gateway_replicas = var.settings.controller_replicas
}

module "argo" {
  source = "../argo"

  name_prefix              = local.name_prefix
  cluster_name             = module.compute.cluster_name
  namespaces               = module.cluster_base.namespaces
  delivery_values          = module.kubernetes_objects.delivery_values
  workflow_template_values = module.kubernetes_objects.workflow_template_values
  workload_access          = module.kubernetes_objects.workload_access
  controller_replicas      = var.settings.controller_replicas
  mlflow_replicas          = var.settings.mlflow_replicas
  bucket_names             = module.storage.bucket_names
  bucket_arns              = module.storage.bucket_arns
  data_kms_key_arn         = module.storage.kms_key_arn
  db_endpoint              = module.storage.db_endpoint
  db_credentials_secret    = module.cluster_base.synced_secrets["mlflow/mlflow-db-credentials"]
  tags                     = local.common_tags
}

# The GitHub Actions runners of the platform jobs, in the stack that holds their roles.
module "runners" {
  source = "../runners"
  count  = local.runners_enabled ? 1 : 0

  github_repository    = var.settings.github_repository
  github_config_secret = module.cluster_base.synced_secrets["arc-runners/arc-github-app"]
  namespaces           = module.cluster_base.namespaces
  node_selector        = { workload = "runners" }
  node_taints          = flatten([for group in values(var.settings.node_groups) : group.taints if lookup(group.labels, "workload", "") == "runners"])
}
