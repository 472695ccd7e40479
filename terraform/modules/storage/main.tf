# S3 buckets (DVC remote, raw-data archive, MLflow artifacts) and the MLflow PostgreSQL store.
data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  db_port    = 5432
}

resource "aws_kms_key" "data" {
  description             = "${var.name_prefix} data buckets and MLflow database"
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

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name_prefix}-data"
  target_key_id = aws_kms_key.data.key_id
}

# --- Access-log bucket: receives the server access logs of the data buckets. ---

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_145:S3 server access log delivery only supports SSE-S3 on the target bucket, not SSE-KMS
  #checkov:skip=CKV_AWS_18:This is the access-log target; logging it into itself would loop
  #checkov:skip=CKV_AWS_144:Access logs are audit copies; cross-region replication of them is not worth the cost
  bucket = "${var.name_prefix}-s3-access-logs-${local.account_id}"

  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_notification" "access_logs" {
  bucket      = aws_s3_bucket.access_logs.id
  eventbridge = true
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "S3ServerAccessLogDelivery"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.access_logs.arn}/*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

# --- Data buckets: one module call each (checkov resolves explicit calls, not for_each keys). ---

module "dvc_bucket" {
  source = "../secure-bucket"

  bucket_name                  = "${var.name_prefix}-dvc-data-${local.account_id}"
  kms_key_arn                  = aws_kms_key.data.arn
  access_log_bucket            = aws_s3_bucket.access_logs.id
  access_log_prefix            = "dvc/"
  infrequent_access_after_days = 30
  cold_after_days              = 180
  cold_storage_class           = "GLACIER_IR"
  tags                         = merge(var.tags, { DataRole = "dvc" })
}

# Raw data is read rarely after ingestion and must never change: colder sooner, Object Lock.
module "raw_bucket" {
  source = "../secure-bucket"

  bucket_name                  = "${var.name_prefix}-raw-archive-${local.account_id}"
  kms_key_arn                  = aws_kms_key.data.arn
  access_log_bucket            = aws_s3_bucket.access_logs.id
  access_log_prefix            = "raw/"
  infrequent_access_after_days = 30
  cold_after_days              = 90
  cold_storage_class           = "DEEP_ARCHIVE"
  object_lock_days             = var.raw_object_lock_days
  tags                         = merge(var.tags, { DataRole = "raw" })
}

module "mlflow_bucket" {
  source = "../secure-bucket"

  bucket_name                  = "${var.name_prefix}-mlflow-artifacts-${local.account_id}"
  kms_key_arn                  = aws_kms_key.data.arn
  access_log_bucket            = aws_s3_bucket.access_logs.id
  access_log_prefix            = "mlflow/"
  infrequent_access_after_days = 60
  cold_after_days              = 365
  cold_storage_class           = "GLACIER_IR"
  tags                         = merge(var.tags, { DataRole = "mlflow" })
}

# --- RDS PostgreSQL: MLflow backend store. ---

resource "aws_security_group" "database" {
  name        = "${var.name_prefix}-mlflow-db"
  description = "PostgreSQL for the MLflow backend store: reachable from the private subnets only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name_prefix}-mlflow-db" })
}

resource "aws_vpc_security_group_ingress_rule" "database" {
  for_each = toset(var.allowed_cidrs)

  security_group_id = aws_security_group.database.id
  description       = "PostgreSQL from private subnet ${each.value}"
  ip_protocol       = "tcp"
  from_port         = local.db_port
  to_port           = local.db_port
  cidr_ipv4         = each.value

  tags = var.tags
}

resource "aws_db_subnet_group" "mlflow" {
  name       = "${var.name_prefix}-mlflow"
  subnet_ids = var.private_subnet_ids

  tags = var.tags
}

resource "aws_db_parameter_group" "mlflow" {
  name   = "${var.name_prefix}-mlflow-pg${var.db_engine_version}"
  family = "postgres${var.db_engine_version}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  tags = var.tags
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${var.name_prefix}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "mlflow" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is set per environment by var.db_multi_az (true in prod); dev and staging run single-AZ for cost
  #checkov:skip=CKV_AWS_293:Deletion protection is set per environment by var.db_deletion_protection (true in prod); dev and staging must be disposable
  identifier     = "${var.name_prefix}-mlflow"
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  db_name        = "mlflow"
  username       = "mlflow_admin"
  # RDS generates the password and keeps it in Secrets Manager: no literal in code or tfvars.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.data.arn

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.data.arn

  db_subnet_group_name   = aws_db_subnet_group.mlflow.name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az
  parameter_group_name   = aws_db_parameter_group.mlflow.name
  port                   = local.db_port

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  backup_retention_period             = var.db_backup_retention_days
  backup_window                       = "01:00-01:30"
  maintenance_window                  = "sat:05:00-sat:05:30"
  # Automated backups outlive the instance: point-in-time recovery still works after a deletion
  # (docs/runbooks/disaster-recovery.md).
  delete_automated_backups  = false
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name_prefix}-mlflow-final"

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.data.arn
  performance_insights_retention_period = 7

  tags = var.tags
}
