# Istio: the VirtualServices of the overlays (prod's header routes and shadow traffic, staging's
# mirror to the preview) and Argo Rollouts' traffic routing need the Istio CRDs, istiod and a
# sidecar in every trading namespace (modules/kubernetes-objects labels them). An internal
# ingress gateway is the entry for callers outside the mesh; nothing is public.
locals {
  repository = "https://istio-release.storage.googleapis.com/charts"
}

resource "helm_release" "base" {
  name       = "istio-base"
  repository = local.repository
  chart      = "base"
  version    = var.istio_version
  namespace  = var.namespaces["istio-system"]
  atomic     = true
  timeout    = 600

  values = [yamlencode({ defaultRevision = "default" })]
}

resource "helm_release" "istiod" {
  name       = "istiod"
  repository = local.repository
  chart      = "istiod"
  version    = var.istio_version
  namespace  = var.namespaces["istio-system"]
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    pilot = {
      replicaCount = var.istiod_replicas
      resources    = { requests = { cpu = "200m", memory = "512Mi" } }
      env = {
        # Sidecars as native sidecar containers: a Job's pod (canary analysis) completes.
        ENABLE_NATIVE_SIDECARS = "true"
        # Mirrored requests keep the "-shadow" Host suffix the strategy service labels shadow
        # traffic by; Istio 1.28 and later drop it unless this is false.
        DISABLE_SHADOW_HOST_SUFFIX = "false"
      }
    }
    meshConfig = { accessLogFile = "/dev/stdout" }
  })]

  depends_on = [helm_release.base]
}

resource "helm_release" "ingress_gateway" {
  name       = "istio-ingressgateway"
  repository = local.repository
  chart      = "gateway"
  version    = var.istio_version
  namespace  = var.namespaces["istio-ingress"]
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    replicaCount = var.gateway_replicas
    service = {
      type = "LoadBalancer"
      # An internal Network Load Balancer in the private subnets.
      annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type"     = "nlb"
        "service.beta.kubernetes.io/aws-load-balancer-internal" = "true"
        "service.beta.kubernetes.io/aws-load-balancer-scheme"   = "internal"
      }
    }
  })]

  depends_on = [helm_release.istiod]
}
