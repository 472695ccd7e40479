# Remote state in S3 with S3-native locking (a .tflock object; Terraform >= 1.10, no DynamoDB).
# The state bucket is created once by hand in the environment's account (see terraform/README.md, "Bootstrap").
terraform {
  backend "s3" {
    bucket       = "trading-gitops-tfstate-dev"
    key          = "trading/terraform.tfstate"
    region       = "us-east-1"
    encrypt      = true
    use_lockfile = true
  }
}
