# GitHub Actions runners inside the cluster (actions-runner-controller, runner scale set mode):
# the platform jobs of .github/workflows (`runs-on: trading-platform`) run as ephemeral pods in
# the private subnets, so they reach S3 (gateway endpoint), MLflow, the Argo Server and the
# Pushgateway over the private network and nothing of the platform is exposed to the internet.
# A job's AWS rights come from its own OIDC role (modules/identity), never from the runner: the
# runner pods get no IAM role and no Kubernetes API token.
locals {
  chart_repository = "oci://ghcr.io/actions/actions-runner-controller-charts"
}

resource "helm_release" "controller" {
  name       = "arc"
  repository = local.chart_repository
  chart      = "gha-runner-scale-set-controller"
  version    = var.arc_chart_version
  namespace  = var.namespaces["arc-systems"]
  atomic     = true
  timeout    = 600
}

resource "helm_release" "runner_set" {
  # The release name is the scale set's name: the one label workflows use in runs-on.
  name       = var.runner_set_name
  repository = local.chart_repository
  chart      = "gha-runner-scale-set"
  version    = var.arc_chart_version
  namespace  = var.namespaces["arc-runners"]
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    githubConfigUrl = "https://github.com/${var.github_repository}"
    # The GitHub App's github_app_id, github_app_installation_id and github_app_private_key,
    # synced from Secrets Manager (modules/cluster-base); never in Terraform state.
    githubConfigSecret = var.github_config_secret
    runnerScaleSetName = var.runner_set_name
    minRunners         = var.min_runners
    maxRunners         = var.max_runners
    template = {
      spec = {
        automountServiceAccountToken = false
        # The runners' own node group (tainted: nothing else lands there, it scales from zero).
        nodeSelector = var.node_selector
        tolerations  = [for taint in var.node_taints : { key = taint.key, operator = "Equal", value = taint.value, effect = taint.effect }]
        containers = [{
          name    = "runner"
          image   = var.runner_image
          command = ["/home/runner/run.sh"]
          resources = {
            requests = { cpu = "2", memory = "6Gi" }
            limits   = { memory = "12Gi" }
          }
        }]
      }
    }
  })]

  depends_on = [helm_release.controller]
}
