output "alarm_topic_arn" {
  description = "SNS topic that receives every alarm (Alertmanager may publish to it too)."
  value       = aws_sns_topic.alarms.arn
}

output "log_group_names" {
  description = "Application log groups by component."
  value       = { for name, group in aws_cloudwatch_log_group.app : name => group.name }
}

output "prometheus_workspace_id" {
  description = "Amazon Managed Service for Prometheus workspace ID."
  value       = aws_prometheus_workspace.this.id
}

output "prometheus_remote_write_url" {
  description = "Remote-write URL for the in-cluster Prometheus agent."
  value       = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
}

output "chart_versions" {
  description = "Installed chart versions by release."
  value = {
    kube_prometheus_stack = helm_release.kube_prometheus_stack.version
    pushgateway           = helm_release.pushgateway.version
  }
}

output "pushgateway_url" {
  description = "In-cluster Pushgateway URL (PUSHGATEWAY_URL of the workflows and templates)."
  value       = "http://${helm_release.pushgateway.name}.${helm_release.pushgateway.namespace}.svc:9091"
}
