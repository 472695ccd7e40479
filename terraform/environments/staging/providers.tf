# Provider configurations must live in the root module; everything they need comes from the platform.
provider "aws" {
  region = var.platform.region

  default_tags {
    tags = module.platform.common_tags
  }
}

# The Kubernetes API is private: apply from a runner inside the VPC (see terraform/README.md).
provider "helm" {
  kubernetes {
    host                   = module.platform.cluster_endpoint
    cluster_ca_certificate = base64decode(module.platform.cluster_certificate_authority)
    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.platform.cluster_name, "--region", var.platform.region]
    }
  }
}
