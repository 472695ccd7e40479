# The cluster's foundation, installed before any other chart: the platform's namespaces and
# default storage class, the External Secrets operator with an identity that may read only the
# secrets it syncs, the Secrets Manager entries those Kubernetes Secrets come from (created
# empty: an operator stores the values), and the ExternalSecrets themselves.
locals {
  manifests_chart = "${path.module}/../../charts/manifests"
  eso_namespace   = "external-secrets"
  eso_account     = "external-secrets"
  purposes = {
    github_dispatch        = "GitHub token (contents: write) the deploy template dispatches the rollback workflow with"
    alertmanager_receivers = "JSON {pagerduty-routing-key, slack-webhook-url, smtp-password}: the files Alertmanager reads"
    arc_github_app         = "JSON {github_app_id, github_app_installation_id, github_app_private_key}: the runner scale set's GitHub App"
  }
}

resource "helm_release" "foundation" {
  name      = "platform-foundation"
  chart     = local.manifests_chart
  version   = var.manifests_chart_version
  namespace = "default"
  atomic    = true
  timeout   = 300

  values = [var.foundation_values]
}

resource "aws_secretsmanager_secret" "cluster" {
  #checkov:skip=CKV2_AWS_57:These hold third-party credentials (GitHub App key and token, PagerDuty, Slack, SMTP) that only their issuer can rotate; rotation is a runbook step
  for_each = var.secret_names

  name                    = each.value
  description             = local.purposes[each.key]
  kms_key_id              = var.secrets_kms_key_arn
  recovery_window_in_days = 30

  tags = var.tags
}

resource "aws_iam_role" "external_secrets" {
  name = "${var.name_prefix}-external-secrets"
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

resource "aws_iam_role_policy" "external_secrets" {
  name = "read-synced-secrets"
  role = aws_iam_role.external_secrets.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadSyncedSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = concat([for secret in aws_secretsmanager_secret.cluster : secret.arn], [var.db_master_secret_arn])
      },
      {
        Sid      = "DecryptSecrets"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [var.secrets_kms_key_arn, var.db_secret_kms_key_arn]
      },
    ]
  })
}

resource "aws_eks_pod_identity_association" "external_secrets" {
  cluster_name    = var.cluster_name
  namespace       = local.eso_namespace
  service_account = local.eso_account
  role_arn        = aws_iam_role.external_secrets.arn

  tags = var.tags
}

resource "helm_release" "external_secrets" {
  name       = "external-secrets"
  repository = "https://charts.external-secrets.io"
  chart      = "external-secrets"
  version    = var.external_secrets_chart_version
  namespace  = local.eso_namespace
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    installCRDs    = true
    serviceAccount = { create = true, name = local.eso_account }
  })]

  depends_on = [helm_release.foundation, aws_eks_pod_identity_association.external_secrets]
}

resource "helm_release" "synced_secrets" {
  name      = "synced-secrets"
  chart     = local.manifests_chart
  version   = var.manifests_chart_version
  namespace = local.eso_namespace
  atomic    = true
  timeout   = 300

  values = [var.external_secret_values]

  depends_on = [helm_release.external_secrets]
}
