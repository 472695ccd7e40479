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
