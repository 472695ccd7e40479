# prod: highly available. Three AZs, a NAT per AZ, on-demand nodes across AZs, Multi-AZ database
# with deletion protection and two weeks of point-in-time recovery.
platform = {
  environment        = "prod"
  project            = "trading"
  region             = "us-east-1"
  availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
  vpc_cidr           = "10.30.0.0/16"
  single_nat_gateway = false

  node_groups = {
    general = {
      instance_types = ["m6i.large"]
      capacity_type  = "ON_DEMAND"
      min_size       = 3
      max_size       = 6
      desired_size   = 3
      disk_size_gb   = 50
      labels         = { workload = "general" }
      taints         = []
    }
    # GitHub Actions runners (modules/runners): scaled from zero by the cluster autoscaler while
    # jobs run; the taint keeps every other pod off these nodes.
    runners = {
      instance_types = ["m6i.xlarge"]
      capacity_type  = "ON_DEMAND"
      min_size       = 0
      max_size       = 3
      desired_size   = 0
      disk_size_gb   = 100
      labels         = { workload = "runners" }
      taints         = [{ key = "workload", value = "runners", effect = "NoSchedule" }]
    }
  }

  db_instance_class        = "db.t4g.medium"
  db_multi_az              = true
  db_deletion_protection   = true
  db_backup_retention_days = 14

  controller_replicas = 2
  mlflow_replicas     = 2

  # The one repository whose workflows may assume the CI roles.
  github_repository = "trading-pipelines/gitops"
  # The pipelines' data, MLflow and their CI roles live in prod (docs/architecture.md).
  github_workflow_environments = ["data", "training", "health", "promote-staging", "promote-prod"]
  create_oidc_provider         = true
  exchanges                    = ["binance", "coinbase"]
  alarm_emails                 = []
  cluster_admin_arns           = []
}
