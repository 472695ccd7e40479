# In-cluster monitoring: kube-prometheus-stack (Prometheus operator, Prometheus, Alertmanager,
# Grafana) configured from the repository's own files (modules/kubernetes-objects reads them),
# the Pushgateway the batch jobs push to, the dashboards as ConfigMaps for Grafana's sidecar,
# and Prometheus' remote write to the managed workspace above.
locals {
  manifests_chart = "${path.module}/../../charts/manifests"
  namespace       = var.namespaces["monitoring"]
  prometheus_sa   = "prometheus"
  # alertmanager.yml reads its credentials as files under this directory (*_file fields).
  receivers_dir = "/etc/alertmanager/secrets"
  # Only the project's own series (pipelines/monitoring/metric_names.py), scrape health and
  # alert states go to the managed workspace: the cluster's own series would cost far more
  # than they are worth there (they stay in the in-cluster Prometheus).
  remote_write_keep = "(strategy|pipeline|data|feature|model|training|incident)_.+|incidents(_.+)?|up|ALERTS"
}

resource "aws_iam_role" "prometheus" {
  name = "${var.name_prefix}-prometheus-remote-write"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "prometheus" {
  name = "remote-write"
  role = aws_iam_role.prometheus.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "RemoteWrite"
      Effect   = "Allow"
      Action   = ["aps:RemoteWrite"]
      Resource = [aws_prometheus_workspace.this.arn]
    }]
  })
}

resource "aws_eks_pod_identity_association" "prometheus" {
  cluster_name    = var.cluster_name
  namespace       = local.namespace
  service_account = local.prometheus_sa
  role_arn        = aws_iam_role.prometheus.arn

  tags = var.tags
}

resource "helm_release" "kube_prometheus_stack" {
  name       = "kube-prometheus-stack"
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "kube-prometheus-stack"
  version    = var.kube_prometheus_stack_chart_version
  namespace  = local.namespace
  atomic     = true
  timeout    = 900

  values = [yamlencode({
    # The chart's cluster rules stay; the two that always fire would reach a person via the
    # repository's default route, so they are off.
    defaultRules                 = { create = true, disabled = { Watchdog = true, InfoInhibitor = true } }
    additionalPrometheusRulesMap = yamldecode(var.prometheus_rules_yaml)
    prometheus = {
      serviceAccount = { create = true, name = local.prometheus_sa }
      prometheusSpec = {
        scrapeInterval     = var.scrape_interval
        evaluationInterval = var.evaluation_interval
        # Select every ServiceMonitor and PrometheusRule, whatever its labels or namespace
        # (environments/base's ServiceMonitor carries no release label).
        ruleSelectorNilUsesHelmValues           = false
        serviceMonitorSelectorNilUsesHelmValues = false
        podMonitorSelectorNilUsesHelmValues     = false
        probeSelectorNilUsesHelmValues          = false
        retention                               = var.prometheus_retention
        replicas                                = var.prometheus_replicas
        storageSpec = {
          volumeClaimTemplate = {
            spec = {
              accessModes = ["ReadWriteOnce"]
              resources   = { requests = { storage = "${var.prometheus_volume_gb}Gi" } }
            }
          }
        }
        remoteWrite = [{
          url                 = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
          sigv4               = { region = local.region }
          writeRelabelConfigs = [{ sourceLabels = ["__name__"], regex = local.remote_write_keep, action = "keep" }]
        }]
      }
    }
    alertmanager = {
      config = yamldecode(var.alertmanager_config_yaml)
      alertmanagerSpec = {
        replicas     = var.alertmanager_replicas
        volumes      = [{ name = "receivers", secret = { secretName = var.alertmanager_secret } }]
        volumeMounts = [{ name = "receivers", mountPath = local.receivers_dir, readOnly = true }]
      }
    }
    grafana = {
      sidecar = {
        dashboards = { enabled = true, label = "grafana_dashboard", labelValue = "1", searchNamespace = local.namespace }
      }
    }
  })]

  depends_on = [aws_eks_pod_identity_association.prometheus]
}

resource "helm_release" "pushgateway" {
  name       = "pushgateway"
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "prometheus-pushgateway"
  version    = var.pushgateway_chart_version
  namespace  = local.namespace
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    # Service pushgateway.monitoring.svc:9091, the URL the workflows and templates push to.
    fullnameOverride = "pushgateway"
    # Pushed groups survive a restart (a lost last-success timestamp would page as stale).
    persistentVolume = { enabled = true, size = "2Gi" }
    serviceMonitor   = { enabled = true, namespace = local.namespace, honorLabels = true }
  })]

  depends_on = [helm_release.kube_prometheus_stack]
}

resource "helm_release" "dashboards" {
  name      = "dashboards"
  chart     = local.manifests_chart
  version   = var.manifests_chart_version
  namespace = local.namespace
  atomic    = true
  timeout   = 300

  values = [var.dashboard_values]

  depends_on = [helm_release.kube_prometheus_stack]
}
