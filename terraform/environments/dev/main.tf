# The environment is modules/platform with this directory's terraform.tfvars; only backend.tf and
# terraform.tfvars differ between environments.
module "platform" {
  source = "../../modules/platform"

  settings = var.platform
}
