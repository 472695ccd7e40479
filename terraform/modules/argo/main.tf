# Argo Rollouts, Argo Workflows and the MLflow tracking server, installed with pinned Helm charts.
locals {
  argo_repository  = "https://argoproj.github.io/argo-helm"
  mlflow_namespace = "mlflow"
  mlflow_sa        = "mlflow"
  db_host          = split(":", var.db_endpoint)[0]
}

resource "helm_release" "argo_rollouts" {
  name             = "argo-rollouts"
  repository       = local.argo_repository
  chart            = "argo-rollouts"
  version          = var.argo_rollouts_chart_version
  namespace        = "argo-rollouts"
  create_namespace = true
  atomic           = true
  timeout          = 600

  values = [yamlencode({
    installCRDs = true
    controller = {
      replicas = var.controller_replicas
      metrics  = { enabled = true }
    }
    dashboard = { enabled = false }
  })]
}

resource "helm_release" "argo_workflows" {
  name             = "argo-workflows"
  repository       = local.argo_repository
  chart            = "argo-workflows"
  version          = var.argo_workflows_chart_version
  namespace        = "argo"
  create_namespace = true
  atomic           = true
  timeout          = 600

  values = [yamlencode({
    controller = {
      replicas           = var.controller_replicas
      metricsConfig      = { enabled = true }
      workflowNamespaces = ["argo"]
    }
    server = {
      # The UI is reached through kubectl port-forward; no public ingress.
      ingress   = { enabled = false }
      authModes = ["client"]
    }
  })]
}

# MLflow reads and writes artifacts through EKS Pod Identity: no static AWS keys anywhere.
resource "aws_iam_role" "mlflow" {
  name = "${var.name_prefix}-mlflow"
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

resource "aws_iam_role_policy" "mlflow" {
  name = "mlflow-artifacts"
  role = aws_iam_role.mlflow.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListArtifactBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = [var.mlflow_artifact_bucket_arn]
      },
      {
        Sid      = "ReadWriteArtifacts"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = ["${var.mlflow_artifact_bucket_arn}/*"]
      },
      {
        Sid      = "UseDataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [var.data_kms_key_arn]
      },
    ]
  })
}

resource "aws_eks_pod_identity_association" "mlflow" {
  cluster_name    = var.cluster_name
  namespace       = local.mlflow_namespace
  service_account = local.mlflow_sa
  role_arn        = aws_iam_role.mlflow.arn

  tags = var.tags
}

resource "helm_release" "mlflow" {
  name             = "mlflow"
  repository       = "https://community-charts.github.io/helm-charts"
  chart            = "mlflow"
  version          = var.mlflow_chart_version
  namespace        = local.mlflow_namespace
  create_namespace = true
  atomic           = true
  timeout          = 600

  values = [yamlencode({
    replicaCount   = var.mlflow_replicas
    serviceAccount = { create = true, name = local.mlflow_sa }
    backendStore = {
      databaseMigration = true
      postgres = {
        enabled  = true
        host     = local.db_host
        port     = 5432
        database = "mlflow"
      }
      existingDatabaseSecret = {
        name        = var.db_credentials_secret_name
        usernameKey = "username"
        passwordKey = "password"
      }
    }
    artifactRoot = {
      proxiedArtifactStorage = true
      s3 = {
        enabled = true
        bucket  = var.mlflow_artifact_bucket
      }
    }
    serviceMonitor = { enabled = false }
  })]

  depends_on = [aws_eks_pod_identity_association.mlflow]
}
