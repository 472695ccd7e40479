# GitHub Actions OIDC federation: one role per workflow environment whose jobs use AWS, each
# trusted only by jobs of one repository in that one environment and allowed only what those
# jobs do; and Secrets Manager entries for exchange API keys (created empty: values never touch
# code).
data "aws_caller_identity" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  github_host = "token.actions.githubusercontent.com"
  # What the jobs of each GitHub workflow environment do on AWS, and nothing more (least
  # privilege; buckets by role: dvc remote, raw = market-data landing and archive, mlflow
  # artifacts). Jobs in other environments (deploys, rollback, promote-dev) touch no AWS API:
  # they reach the Argo Server and MLflow privately from the platform runners and have no role.
  # tests/terraform/test_identity_roles.py checks this map against the workflows' environments.
  workflow_access = {
    data              = { read = ["raw", "dvc"], write = ["dvc"] }              # landing bars in, data out
    training          = { read = ["dvc", "mlflow"], write = ["dvc", "mlflow"] } # model outputs, artifacts
    health            = { read = ["dvc", "mlflow"], write = [] }                # features, deployed bundle
    "promote-staging" = { read = ["dvc"], write = [] }                          # card and plots
    "promote-prod"    = { read = ["dvc"], write = [] }                          # card and plots
  }
  writers = toset([for env in var.workflow_environments : env if length(local.workflow_access[env].write) > 0])
  oidc_provider_arn = (
    var.create_oidc_provider
    ? aws_iam_openid_connect_provider.github[0].arn
    : "arn:aws:iam::${local.account_id}:oidc-provider/${local.github_host}"
  )
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.github_host}"
  client_id_list = ["sts.amazonaws.com"]
  # GitHub's published intermediate-certificate thumbprints; AWS validates the issuer through its
  # own trust store as well, so these are only a fallback.
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]

  tags = var.tags
}

resource "aws_iam_role" "github" {
  for_each = toset(var.workflow_environments)

  name                 = "${var.name_prefix}-github-${each.key}"
  description          = "GitHub Actions jobs of ${var.github_repository} in environment ${each.key}"
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = local.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      # Exact match (no wildcard): only jobs of this repository that run in this environment.
      Condition = {
        StringEquals = {
          "${local.github_host}:aud" = "sts.amazonaws.com"
          "${local.github_host}:sub" = "repo:${var.github_repository}:environment:${each.key}"
        }
      }
    }]
  })

  tags = merge(var.tags, { GitHubEnvironment = each.key })
}

# Every role lists and reads its buckets' objects; decrypting needs the data key.
resource "aws_iam_role_policy" "github_read" {
  for_each = aws_iam_role.github

  name = "read"
  role = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListBuckets"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = [for bucket in local.workflow_access[each.key].read : var.bucket_arns[bucket]]
      },
      {
        Sid      = "ReadObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = [for bucket in local.workflow_access[each.key].read : "${var.bucket_arns[bucket]}/*"]
      },
      {
        Sid      = "DecryptWithDataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [var.data_kms_key_arn]
      },
    ]
  })
}

# Only the roles whose jobs store data (DVC push, MLflow artifacts) write, and only there.
resource "aws_iam_role_policy" "github_write" {
  for_each = local.writers

  name = "write"
  role = aws_iam_role.github[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "WriteObjects"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
        Resource = [for bucket in local.workflow_access[each.key].write : "${var.bucket_arns[bucket]}/*"]
      },
      {
        Sid      = "EncryptWithDataKey"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey"]
        Resource = [var.data_kms_key_arn]
      },
    ]
  })
}

resource "aws_kms_key" "secrets" {
  description             = "${var.name_prefix} Secrets Manager entries (exchange API keys, cluster credentials)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministration"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })

  tags = var.tags
}

resource "aws_secretsmanager_secret" "exchange" {
  #checkov:skip=CKV2_AWS_57:Exchange API keys are issued by the exchange; rotating them needs the exchange's console or API, so rotation is a runbook step, not a Lambda
  for_each = toset(var.exchanges)

  name                    = "${var.name_prefix}/exchanges/${each.value}/api-key"
  description             = "API key and secret for ${each.value}; the value is stored out of band, never in Terraform"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = merge(var.tags, { Exchange = each.value })
}
