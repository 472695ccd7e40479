terraform {
  # use_lockfile (S3-native state locking) needs Terraform 1.10 or later. Provider versions are
  # pinned by the modules (modules/platform/versions.tf and below).
  required_version = ">= 1.10.0, < 2.0.0"
}
