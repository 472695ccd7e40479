# Delivery: the accounts the Argo templates run as and what they may do, the GitHub deploy jobs'
# accounts on the Argo Server, and the WorkflowTemplates themselves (deploy/argo/*.yaml).
locals {
  repository_url = "https://github.com/${var.github_repository}.git"

  # deployer applies an overlay (`kubectl apply --server-side`) and waits for its Rollout.
  deployer_rules = [
    { apiGroups = [""], resources = ["configmaps", "serviceaccounts", "services"], verbs = ["get", "list", "watch", "create", "update", "patch"] },
    { apiGroups = ["argoproj.io"], resources = ["rollouts", "analysistemplates"], verbs = ["get", "list", "watch", "create", "update", "patch"] },
    { apiGroups = ["argoproj.io"], resources = ["analysisruns", "experiments"], verbs = ["get", "list", "watch"] },
    { apiGroups = ["apps"], resources = ["replicasets"], verbs = ["get", "list", "watch"] },
    { apiGroups = [""], resources = ["pods"], verbs = ["get", "list", "watch"] },
    { apiGroups = ["monitoring.coreos.com"], resources = ["servicemonitors", "prometheusrules"], verbs = ["get", "list", "watch", "create", "update", "patch"] },
    { apiGroups = ["networking.istio.io"], resources = ["virtualservices", "destinationrules"], verbs = ["get", "list", "watch", "create", "update", "patch"] },
    # The overlays' NetworkPolicy (who may reach the service and its metrics port).
    { apiGroups = ["networking.k8s.io"], resources = ["networkpolicies"], verbs = ["get", "list", "watch", "create", "update", "patch"] },
  ]
  executor_accounts = ["deployer", "pipelines", "mlflow-backup"]
  deploy_accounts   = { for env in local.model_environments : env => "github-deploy-${env}" }
  deploy_user       = "system:serviceaccount:argo:github-deploy-"

  service_accounts = concat(
    [for name in local.executor_accounts : {
      apiVersion = "v1"
      kind       = "ServiceAccount"
      metadata   = { name = name, namespace = "argo", labels = local.part_of }
    }],
    [for env, name in local.deploy_accounts : {
      apiVersion                   = "v1"
      kind                         = "ServiceAccount"
      metadata                     = { name = name, namespace = "argo", labels = merge(local.part_of, { "pipelines.trading/environment" = env }) }
      automountServiceAccountToken = false
    }],
    # The GitHub environment's ARGO_TOKEN: Kubernetes fills the token in; it never passes
    # through Terraform (state) or Helm (values). Read it with the command in terraform/README.md.
    [for env, name in local.deploy_accounts : {
      apiVersion = "v1"
      kind       = "Secret"
      type       = "kubernetes.io/service-account-token"
      metadata = {
        name        = "${name}-token"
        namespace   = "argo"
        labels      = local.part_of
        annotations = { "kubernetes.io/service-account.name" = name }
      }
    }],
  )

  rbac = concat(
    [
      {
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "ClusterRole"
        metadata   = { name = "trading-deployer", labels = local.part_of }
        rules      = local.deployer_rules
      },
      {
        # The deploy template's dependency check: `kubectl get crd ...` and `get namespace`.
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "ClusterRole"
        metadata   = { name = "trading-deployer-discovery", labels = local.part_of }
        rules = [
          { apiGroups = [""], resources = ["namespaces"], verbs = ["get"] },
          { apiGroups = ["apiextensions.k8s.io"], resources = ["customresourcedefinitions"], verbs = ["get"] },
        ]
      },
      {
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "ClusterRoleBinding"
        metadata   = { name = "trading-deployer-discovery", labels = local.part_of }
        roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "trading-deployer-discovery" }
        subjects   = [{ kind = "ServiceAccount", name = "deployer", namespace = "argo" }]
      },
      {
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "Role"
        metadata   = { name = "deployer-prometheus-lookup", namespace = "monitoring", labels = local.part_of }
        rules      = [{ apiGroups = [""], resources = ["services"], verbs = ["get"] }]
      },
      {
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "RoleBinding"
        metadata   = { name = "deployer-prometheus-lookup", namespace = "monitoring", labels = local.part_of }
        roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "Role", name = "deployer-prometheus-lookup" }
        subjects   = [{ kind = "ServiceAccount", name = "deployer", namespace = "argo" }]
      },
      {
        # Argo's executor reports each step's outputs as WorkflowTaskResults.
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "Role"
        metadata   = { name = "workflow-executor", namespace = "argo", labels = local.part_of }
        rules      = [{ apiGroups = ["argoproj.io"], resources = ["workflowtaskresults"], verbs = ["create", "patch"] }]
      },
      {
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "RoleBinding"
        metadata   = { name = "workflow-executor", namespace = "argo", labels = local.part_of }
        roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "Role", name = "workflow-executor" }
        subjects   = [for name in local.executor_accounts : { kind = "ServiceAccount", name = name, namespace = "argo" }]
      },
      {
        # The Argo Server runs in client auth mode: a deploy job's token acts with these rights.
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "Role"
        metadata   = { name = "github-deploy", namespace = "argo", labels = local.part_of }
        rules = [
          { apiGroups = ["argoproj.io"], resources = ["workflowtemplates"], resourceNames = ["deploy"], verbs = ["get"] },
          { apiGroups = ["argoproj.io"], resources = ["workflows"], verbs = ["create", "get", "list", "watch"] },
        ]
      },
      {
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "RoleBinding"
        metadata   = { name = "github-deploy", namespace = "argo", labels = local.part_of }
        roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "Role", name = "github-deploy" }
        subjects   = [for name in values(local.deploy_accounts) : { kind = "ServiceAccount", name = name, namespace = "argo" }]
      },
    ],
    [for env, namespace in local.trading_namespaces : {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "RoleBinding"
      metadata   = { name = "trading-deployer", namespace = namespace, labels = local.part_of }
      roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "trading-deployer" }
      subjects   = [{ kind = "ServiceAccount", name = "deployer", namespace = "argo" }]
    }],
  )

  # RBAC cannot look into parameters: each environment's token may deploy only its own
  # environment, from this repository, through the deploy template unchanged.
  deploy_scope = [
    {
      apiVersion = "admissionregistration.k8s.io/v1"
      kind       = "ValidatingAdmissionPolicy"
      metadata   = { name = "github-deploy-own-environment", labels = local.part_of }
      spec = {
        failurePolicy = "Fail"
        matchConstraints = {
          resourceRules = [{ apiGroups = ["argoproj.io"], apiVersions = ["*"], operations = ["CREATE", "UPDATE"], resources = ["workflows"] }]
        }
        matchConditions = [{ name = "github-deploy-account", expression = "request.userInfo.username.startsWith('${local.deploy_user}')" }]
        variables = [
          { name = "environment", expression = "request.userInfo.username.substring(${length(local.deploy_user)})" },
          { name = "parameters", expression = "has(object.spec.arguments) && has(object.spec.arguments.parameters) ? object.spec.arguments.parameters : []" },
        ]
        validations = [
          {
            expression = "has(object.spec.workflowTemplateRef) && object.spec.workflowTemplateRef.name == 'deploy'"
            message    = "a GitHub deploy job may only submit the deploy WorkflowTemplate"
          },
          {
            expression = join(" && ", [for field in ["templates", "serviceAccountName", "podSpecPatch", "entrypoint", "onExit", "hooks", "volumes"] : "!has(object.spec.${field})"])
            message    = "a GitHub deploy job may not override the deploy template's steps, account or pod spec"
          },
          {
            expression = "variables.parameters.exists(p, p.name == 'environment' && has(p.value) && p.value == variables.environment)"
            message    = "a GitHub deploy job may only deploy its own environment"
          },
          {
            expression = "variables.parameters.all(p, p.name != 'repository' || (has(p.value) && p.value == '${local.repository_url}'))"
            message    = "a deploy checks out only ${local.repository_url}"
          },
        ]
      }
    },
    {
      apiVersion = "admissionregistration.k8s.io/v1"
      kind       = "ValidatingAdmissionPolicyBinding"
      metadata   = { name = "github-deploy-own-environment", labels = local.part_of }
      spec = {
        policyName        = "github-deploy-own-environment"
        validationActions = ["Deny"]
        matchResources    = { namespaceSelector = { matchLabels = { "kubernetes.io/metadata.name" = "argo" } } }
      }
    },
  ]

  # deploy/argo/*.yaml as they are in the repository (several documents per file).
  argo_dir = "${var.source_root}/deploy/argo"
  workflow_templates = flatten([
    for file in sort(fileset(local.argo_dir, "*.yaml")) : [
      for document in split("\n---\n", file("${local.argo_dir}/${file}")) :
      yamldecode(document) if trimspace(replace(document, "/(?m)^#.*$/", "")) != ""
    ]
  ])
}
