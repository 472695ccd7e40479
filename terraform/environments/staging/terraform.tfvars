# staging: prod's shape at lower cost. Two AZs, one NAT, spot nodes, single-AZ small database.
platform = {
  environment        = "staging"
  project            = "trading"
  region             = "us-east-1"
  availability_zones = ["us-east-1a", "us-east-1b"]
  vpc_cidr           = "10.20.0.0/16"
  single_nat_gateway = true

  node_groups = {
    general = {
      instance_types = ["t3.large", "t3a.large"]
      capacity_type  = "SPOT"
      min_size       = 2
      max_size       = 4
      desired_size   = 2
      disk_size_gb   = 30
      labels         = { workload = "general" }
      taints         = []
    }
  }

  db_instance_class        = "db.t4g.small"
  db_multi_az              = false
  db_deletion_protection   = false
  db_backup_retention_days = 7

  controller_replicas = 1
  mlflow_replicas     = 1

  # The one repository whose workflows may assume the CI roles.
  github_repository = "trading-pipelines/gitops"
  # No CI roles here: the pipelines' jobs assume roles of the prod stack.
  github_workflow_environments = []
  create_oidc_provider         = true
  exchanges                    = ["binance", "coinbase"]
  alarm_emails                 = []
  cluster_admin_arns           = []
}
