# Monitoring from the repository's own files, unchanged: the rule files become PrometheusRules
# (kube-prometheus-stack renders additionalPrometheusRulesMap with toYaml, never through tpl),
# alertmanager.yml the Alertmanager configuration, the dashboards ConfigMaps the Grafana sidecar
# loads, and prometheus.yml's intervals the ones the rules' detection bounds assume.
locals {
  monitoring_dir = "${var.source_root}/monitoring"
  rules_dir      = "${local.monitoring_dir}/prometheus/rules"
  dashboards_dir = "${local.monitoring_dir}/grafana"

  prometheus_rules = {
    for file in sort(fileset(local.rules_dir, "*.rules.yml")) :
    trimsuffix(file, ".rules.yml") => yamldecode(file("${local.rules_dir}/${file}"))
  }

  # The chart's default configuration is a map Helm merges ours into: every key it sets is set
  # here too, except `templates`, which the null removes.
  alertmanager_config = merge(
    yamldecode(file("${local.monitoring_dir}/alertmanager/alertmanager.yml")),
    { templates = null },
  )

  prometheus_global = yamldecode(file("${local.monitoring_dir}/prometheus/prometheus.yml")).global

  dashboards = [
    for file in sort(fileset(local.dashboards_dir, "*.json")) : {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata = {
        name      = "grafana-dashboard-${trimsuffix(file, ".json")}"
        namespace = "monitoring"
        labels    = merge(local.part_of, { grafana_dashboard = "1" })
      }
      data = { (file) = file("${local.dashboards_dir}/${file}") }
    }
  ]
}
