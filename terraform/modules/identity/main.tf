# GitHub Actions OIDC federation, roles scoped to one repository and one GitHub environment each,
# and Secrets Manager entries for exchange API keys (created empty: values never touch code).
data "aws_caller_identity" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  github_host = "token.actions.githubusercontent.com"
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
  for_each = toset(var.github_environments)

  name                 = "${var.name_prefix}-github-${each.value}"
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
          "${local.github_host}:sub" = "repo:${var.github_repository}:environment:${each.value}"
        }
      }
    }]
  })

  tags = merge(var.tags, { GitHubEnvironment = each.value })
}

resource "aws_iam_role_policy" "github" {
  for_each = aws_iam_role.github

  name = "pipelines"
  role = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListDataBuckets"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = var.data_bucket_arns
      },
      {
        Sid      = "ReadWriteData"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = [for arn in var.data_bucket_arns : "${arn}/*"]
      },
      {
        Sid      = "UseDataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [var.data_kms_key_arn]
      },
      {
        Sid      = "DescribeCluster"
        Effect   = "Allow"
        Action   = ["eks:DescribeCluster"]
        Resource = [var.eks_cluster_arn]
      },
    ]
  })
}

resource "aws_kms_key" "secrets" {
  description             = "${var.name_prefix} exchange API keys"
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
