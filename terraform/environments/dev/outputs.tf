output "platform" {
  description = "Every output of modules/platform: cluster_name, bucket_names, github_role_arns, ..."
  value       = module.platform
}
