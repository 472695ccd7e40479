# What the cluster must hold besides the charts, computed in one place: the namespaces, the
# accounts, roles and configuration the overlays and Argo templates name, the secrets synced
# from Secrets Manager, and the monitoring objects read from the repository's own files. The
# modules that own each part install it (helm_release of charts/manifests); this module has no
# provider, so tests evaluate it with `terraform console` and compare it with its sources and
# with what the manifests reference (tests/infra).
locals {
  # The model environments are namespaces of every stack's cluster (environments/<env>/ sets
  # `namespace: trading-<env>`); a stack is the whole platform, its tfvars only size it.
  model_environments = ["dev", "staging", "prod"]
  trading_namespaces = { for env in local.model_environments : env => "trading-${env}" }

  part_of  = { "app.kubernetes.io/part-of" = "trading-platform" }
  platform = ["argo", "argo-rollouts", "external-secrets", "istio-ingress", "istio-system", "mlflow", "monitoring"]
  runners  = var.runners_enabled ? ["arc-runners", "arc-systems"] : []

  # Pod security: "restricted" is reported (warn, audit), not enforced, because Istio's init
  # container needs NET_ADMIN without the Istio CNI plugin.
  trading_labels = {
    "istio-injection"                     = "enabled"
    "pod-security.kubernetes.io/warn"     = "restricted"
    "pod-security.kubernetes.io/audit"    = "restricted"
    "app.kubernetes.io/part-of"           = "trading-pipelines"
    "pipelines.trading/model-environment" = "true"
  }
  namespace_labels = merge(
    { for name in concat(local.platform, local.runners) : name => local.part_of },
    { for env, name in local.trading_namespaces : name => merge(local.trading_labels, { "pipelines.trading/environment" = env }) },
  )
  # Helm keeps a namespace it created when its release is removed (a namespace holds data).
  namespace_objects = [for name, labels in local.namespace_labels : {
    apiVersion = "v1"
    kind       = "Namespace"
    metadata   = { name = name, labels = labels, annotations = { "helm.sh/resource-policy" = "keep" } }
  }]

  # The default storage class: the deploy template's workspace claim and Prometheus' volume name
  # none (EBS CSI driver, modules/compute; gp2 is no longer the default on new EKS clusters).
  storage_class = {
    apiVersion           = "storage.k8s.io/v1"
    kind                 = "StorageClass"
    metadata             = { name = "gp3", labels = local.part_of, annotations = { "storageclass.kubernetes.io/is-default-class" = "true" } }
    provisioner          = "ebs.csi.aws.com"
    volumeBindingMode    = "WaitForFirstConsumer"
    allowVolumeExpansion = true
    reclaimPolicy        = "Delete"
    parameters           = { type = "gp3", encrypted = "true" }
  }

  # ReadWriteMany volumes: the data template's partition pods share its workspace from any node.
  # Each claim gets an access point owned by the tools image's user (uid and gid 10001).
  efs_storage_class = {
    apiVersion        = "storage.k8s.io/v1"
    kind              = "StorageClass"
    metadata          = { name = "efs", labels = local.part_of }
    provisioner       = "efs.csi.aws.com"
    volumeBindingMode = "Immediate"
    reclaimPolicy     = "Delete"
    parameters = {
      provisioningMode = "efs-ap"
      fileSystemId     = var.workspace_file_system_id
      directoryPerms   = "770"
      uid              = "10001"
      gid              = "10001"
      basePath         = "/workspaces"
    }
  }

  # Configuration the Argo templates read (configMapKeyRef pipelines-config).
  pipelines_config = {
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata   = { name = "pipelines-config", namespace = "argo", labels = local.part_of }
    data = {
      "mlflow-tracking-uri" = var.mlflow_tracking_uri
      "dvc-remote-url"      = "s3://${var.bucket_names["dvc"]}/cache"
      "github-repository"   = var.github_repository
      "github-api-url"      = var.github_api_url
      # The nightly MLflow database backup (deploy/argo/mlflow-backup.yaml).
      "mlflow-db-host"    = split(":", var.db_endpoint)[0]
      "mlflow-db-port"    = split(":", var.db_endpoint)[1]
      "mlflow-db-name"    = "mlflow"
      "mlflow-backup-url" = "s3://${var.bucket_names["mlflow"]}/backups/mlflow-db/"
    }
  }

  # S3 access of each workload by bucket role (EKS Pod Identity, modules/argo). Artifacts are
  # written by the MLflow clients themselves (no proxy): training writes, the rest reads.
  workload_access = merge(
    {
      for env, namespace in local.trading_namespaces : "strategy-service-${env}" => {
        namespace       = namespace
        service_account = "strategy-service"
        read            = ["mlflow"] # the manifest's model bundle
        write           = []
      }
    },
    {
      deployer  = { namespace = "argo", service_account = "deployer", read = ["mlflow"], write = [] }
      pipelines = { namespace = "argo", service_account = "pipelines", read = ["raw", "dvc", "mlflow"], write = ["dvc", "mlflow"] }
      mlflow    = { namespace = "mlflow", service_account = "mlflow", read = ["mlflow"], write = ["mlflow"] }
      # Writes the nightly database dump under backups/ of the artifact bucket.
      mlflow-backup = { namespace = "argo", service_account = "mlflow-backup", read = ["mlflow"], write = ["mlflow"] }
    },
  )
}
