# Kubernetes Secrets copied from Secrets Manager by the External Secrets operator, whose own
# identity (EKS Pod Identity, modules/cluster-base) may read exactly these entries. No secret
# value passes through Terraform.
locals {
  store_name = "aws-secrets-manager"
  # Secrets Manager entries of the cluster's credentials (modules/cluster-base creates them empty).
  cluster_secret_names = merge(
    {
      github_dispatch        = "${var.name_prefix}/cluster/github-dispatch"
      alertmanager_receivers = "${var.name_prefix}/cluster/alertmanager-receivers"
    },
    var.runners_enabled ? { arc_github_app = "${var.name_prefix}/cluster/arc-github-app" } : {},
  )
  store_ref = { kind = "ClusterSecretStore", name = local.store_name }

  external_secrets = concat(
    [
      {
        apiVersion = "external-secrets.io/v1"
        kind       = "ClusterSecretStore"
        metadata   = { name = local.store_name, labels = local.part_of }
        spec = {
          provider = { aws = { service = "SecretsManager", region = var.region } }
        }
      },
      {
        # MLflow's backend store login; RDS rotates it, the hourly refresh follows.
        apiVersion = "external-secrets.io/v1"
        kind       = "ExternalSecret"
        metadata   = { name = "mlflow-db-credentials", namespace = "mlflow", labels = local.part_of }
        spec = {
          refreshInterval = "1h"
          secretStoreRef  = local.store_ref
          target          = { name = "mlflow-db-credentials", creationPolicy = "Owner" }
          data = [for key in ["username", "password"] : {
            secretKey = key
            remoteRef = { key = var.db_master_secret_arn, property = key }
          }]
        }
      },
      {
        # The same login for the nightly backup, in the namespace the backup runs in.
        apiVersion = "external-secrets.io/v1"
        kind       = "ExternalSecret"
        metadata   = { name = "mlflow-db-backup", namespace = "argo", labels = local.part_of }
        spec = {
          refreshInterval = "1h"
          secretStoreRef  = local.store_ref
          target          = { name = "mlflow-db-backup", creationPolicy = "Owner" }
          data = [for key in ["username", "password"] : {
            secretKey = key
            remoteRef = { key = var.db_master_secret_arn, property = key }
          }]
        }
      },
      {
        # The deploy template's exit handler dispatches the rollback workflow with it.
        apiVersion = "external-secrets.io/v1"
        kind       = "ExternalSecret"
        metadata   = { name = "github-dispatch", namespace = "argo", labels = local.part_of }
        spec = {
          refreshInterval = "1h"
          secretStoreRef  = local.store_ref
          target          = { name = "github-dispatch", creationPolicy = "Owner" }
          data            = [{ secretKey = "token", remoteRef = { key = local.cluster_secret_names["github_dispatch"] } }]
        }
      },
      {
        # Files Alertmanager reads (*_file in alertmanager.yml), mounted at /etc/alertmanager/secrets.
        apiVersion = "external-secrets.io/v1"
        kind       = "ExternalSecret"
        metadata   = { name = "alertmanager-receivers", namespace = "monitoring", labels = local.part_of }
        spec = {
          refreshInterval = "1h"
          secretStoreRef  = local.store_ref
          target          = { name = "alertmanager-receivers", creationPolicy = "Owner" }
          dataFrom        = [{ extract = { key = local.cluster_secret_names["alertmanager_receivers"] } }]
        }
      },
    ],
    var.runners_enabled ? [{
      # The GitHub App the runner scale set registers with.
      apiVersion = "external-secrets.io/v1"
      kind       = "ExternalSecret"
      metadata   = { name = "arc-github-app", namespace = "arc-runners", labels = local.part_of }
      spec = {
        refreshInterval = "1h"
        secretStoreRef  = local.store_ref
        target          = { name = "arc-github-app", creationPolicy = "Owner" }
        dataFrom        = [{ extract = { key = local.cluster_secret_names["arc_github_app"] } }]
      }
    }] : [],
  )

  # The keys each synced Secret must carry (alertmanager.yml's *_file names, the chart's keys).
  alertmanager_secret_keys = ["pagerduty-routing-key", "slack-webhook-url", "smtp-password"]
}
