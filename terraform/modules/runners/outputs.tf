output "runner_set_name" {
  description = "The runs-on label of the platform jobs."
  value       = helm_release.runner_set.name
}

output "chart_version" {
  description = "Installed actions-runner-controller chart version."
  value       = helm_release.controller.version
}
