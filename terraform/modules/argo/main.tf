# Delivery on the cluster: Argo Rollouts, Argo Workflows with its server (client auth mode: a
# caller acts with its own Kubernetes token), the MLflow tracking server, the WorkflowTemplates
# of deploy/argo, the accounts and configuration they name, and the S3 identity (EKS Pod
# Identity) of every workload that reads or writes a data bucket.
locals {
  argo_repository = "https://argoproj.github.io/argo-helm"
  manifests_chart = "${path.module}/../../charts/manifests"
  db_host         = split(":", var.db_endpoint)[0]
  mlflow_port     = 5000
}

resource "helm_release" "argo_rollouts" {
  name       = "argo-rollouts"
  repository = local.argo_repository
  chart      = "argo-rollouts"
  version    = var.argo_rollouts_chart_version
  namespace  = var.namespaces["argo-rollouts"]
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    installCRDs = true
    controller = {
      replicas = var.controller_replicas
      metrics  = { enabled = true, serviceMonitor = { enabled = true } }
    }
    dashboard = { enabled = false }
  })]
}

resource "helm_release" "argo_workflows" {
  name       = "argo-workflows"
  repository = local.argo_repository
  chart      = "argo-workflows"
  version    = var.argo_workflows_chart_version
  namespace  = var.namespaces["argo"]
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    controller = {
      replicas           = var.controller_replicas
      metricsConfig      = { enabled = true }
      serviceMonitor     = { enabled = true }
      workflowNamespaces = [var.namespaces["argo"]]
      # Every Workflow must come from a WorkflowTemplate, as stored at submission.
      workflowRestrictions = { templateReferencing = "Secure" }
    }
    server = {
      # Reached from the platform runners in the cluster (ARGO_SERVER); no ingress.
      ingress   = { enabled = false }
      authModes = ["client"]
      replicas  = var.controller_replicas
    }
  })]
}

resource "helm_release" "delivery" {
  name      = "delivery"
  chart     = local.manifests_chart
  version   = var.manifests_chart_version
  namespace = var.namespaces["argo"]
  atomic    = true
  timeout   = 300

  values = [var.delivery_values]

  depends_on = [helm_release.argo_workflows, helm_release.argo_rollouts]
}

resource "helm_release" "workflow_templates" {
  name      = "workflow-templates"
  chart     = local.manifests_chart
  version   = var.manifests_chart_version
  namespace = var.namespaces["argo"]
  atomic    = true
  timeout   = 300

  values = [var.workflow_template_values]

  depends_on = [helm_release.argo_workflows, helm_release.delivery]
}

# Workloads reach S3 through EKS Pod Identity: no static AWS keys anywhere.
resource "aws_iam_role" "workload" {
  for_each = var.workload_access

  name        = "${var.name_prefix}-${each.key}"
  description = "Pod identity of ${each.value.namespace}/${each.value.service_account}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "workload" {
  for_each = var.workload_access

  name = "buckets"
  role = aws_iam_role.workload[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ListBuckets"
          Effect   = "Allow"
          Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
          Resource = [for role in distinct(concat(each.value.read, each.value.write)) : var.bucket_arns[role]]
        },
        {
          Sid      = "ReadObjects"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = [for role in each.value.read : "${var.bucket_arns[role]}/*"]
        },
        {
          Sid      = "DecryptWithDataKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = [var.data_kms_key_arn]
        },
      ],
      length(each.value.write) == 0 ? [] : [
        {
          Sid      = "WriteObjects"
          Effect   = "Allow"
          Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
          Resource = [for role in each.value.write : "${var.bucket_arns[role]}/*"]
        },
        {
          Sid      = "EncryptWithDataKey"
          Effect   = "Allow"
          Action   = ["kms:GenerateDataKey"]
          Resource = [var.data_kms_key_arn]
        },
      ],
    )
  })
}

resource "aws_eks_pod_identity_association" "workload" {
  for_each = var.workload_access

  cluster_name    = var.cluster_name
  namespace       = each.value.namespace
  service_account = each.value.service_account
  role_arn        = aws_iam_role.workload[each.key].arn

  tags = var.tags
}

resource "helm_release" "mlflow" {
  name       = "mlflow"
  repository = "https://community-charts.github.io/helm-charts"
  chart      = "mlflow"
  version    = var.mlflow_chart_version
  namespace  = var.namespaces["mlflow"]
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    replicaCount   = var.mlflow_replicas
    serviceAccount = { create = true, name = var.workload_access["mlflow"].service_account }
    service        = { port = local.mlflow_port }
    telemetry      = { enabled = false }
    backendStore = {
      databaseMigration = true
      postgres = {
        enabled  = true
        host     = local.db_host
        port     = 5432
        database = "mlflow"
      }
      # Synced from the RDS-managed secret (modules/cluster-base); never in Terraform state.
      existingDatabaseSecret = {
        name        = var.db_credentials_secret
        usernameKey = "username"
        passwordKey = "password"
      }
    }
    # Clients read and write artifacts in S3 themselves (s3:// URIs in the model manifests).
    artifactRoot = {
      proxiedArtifactStorage = false
      s3 = {
        enabled = true
        bucket  = var.bucket_names["mlflow"]
      }
    }
    # MLflow refuses Host headers it does not know (DNS-rebinding guard): the Service names the
    # pods and the Argo templates use.
    extraEnvVars = {
      MLFLOW_SERVER_ALLOWED_HOSTS = "mlflow.${var.namespaces["mlflow"]}.svc:*,mlflow.${var.namespaces["mlflow"]}.svc.cluster.local:*,localhost:*"
    }
    serviceMonitor = { enabled = false }
  })]

  depends_on = [aws_eks_pod_identity_association.workload]
}
