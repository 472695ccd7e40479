locals {
  # Every AWS resource gets these through default_tags; modules also set them explicitly.
  common_tags = {
    Environment = var.environment
    Project     = var.project
    ManagedBy   = "terraform"
  }
  name_prefix = "${var.project}-${var.environment}"
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.common_tags
  }
}

# The Kubernetes API is private: apply from a runner inside the VPC (see terraform/README.md).
provider "helm" {
  kubernetes {
    host                   = module.compute.cluster_endpoint
    cluster_ca_certificate = base64decode(module.compute.cluster_certificate_authority)
    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.compute.cluster_name, "--region", var.region]
    }
  }
}
