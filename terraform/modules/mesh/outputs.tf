output "istio_version" {
  description = "Installed Istio version."
  value       = helm_release.istiod.version
}

output "ingress_gateway_service" {
  description = "Namespace/name of the ingress gateway's Service (an internal NLB)."
  value       = "${helm_release.ingress_gateway.namespace}/${helm_release.ingress_gateway.name}"
}
