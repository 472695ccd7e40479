# What the node groups need to be usable by the platform: volumes (the deploy template's
# workspace claim, Prometheus' storage) through the EBS CSI driver, capacity on demand (the
# runners' node group scales from zero) through the cluster autoscaler, and who administers the
# cluster (EKS access entries; the API has no aws-auth ConfigMap).
locals {
  pod_identity_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
}

resource "aws_iam_role" "ebs_csi" {
  name               = "${local.cluster_name}-ebs-csi"
  assume_role_policy = local.pod_identity_trust

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

resource "aws_eks_addon" "ebs_csi" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "aws-ebs-csi-driver"
  resolve_conflicts_on_update = "OVERWRITE"

  pod_identity_association {
    role_arn        = aws_iam_role.ebs_csi.arn
    service_account = "ebs-csi-controller-sa"
  }

  tags = var.tags

  depends_on = [aws_eks_addon.this]
}

# The autoscaler may resize only this cluster's node groups (EKS tags their Auto Scaling groups).
resource "aws_iam_role" "autoscaler" {
  name               = "${local.cluster_name}-autoscaler"
  assume_role_policy = local.pod_identity_trust

  tags = var.tags
}

resource "aws_iam_role_policy" "autoscaler" {
  name = "resize-node-groups"
  role = aws_iam_role.autoscaler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "Describe"
        Effect = "Allow"
        Action = [
          "autoscaling:DescribeAutoScalingGroups",
          "autoscaling:DescribeAutoScalingInstances",
          "autoscaling:DescribeLaunchConfigurations",
          "autoscaling:DescribeScalingActivities",
          "autoscaling:DescribeTags",
          "ec2:DescribeImages",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplateVersions",
          "ec2:GetInstanceTypesFromInstanceRequirements",
        ]
        Resource = "*"
      },
      {
        Sid      = "DescribeNodeGroups"
        Effect   = "Allow"
        Action   = ["eks:DescribeNodegroup"]
        Resource = "arn:aws:eks:${local.region}:${local.account_id}:nodegroup/${local.cluster_name}/*"
      },
      {
        Sid      = "ResizeOwnGroups"
        Effect   = "Allow"
        Action   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
        Resource = "*"
        Condition = {
          StringEquals = { "aws:ResourceTag/k8s.io/cluster-autoscaler/${local.cluster_name}" = "owned" }
        }
      },
    ]
  })
}

resource "aws_eks_pod_identity_association" "autoscaler" {
  cluster_name    = aws_eks_cluster.this.name
  namespace       = "kube-system"
  service_account = "cluster-autoscaler"
  role_arn        = aws_iam_role.autoscaler.arn

  tags = var.tags
}

resource "helm_release" "autoscaler" {
  name       = "cluster-autoscaler"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = var.autoscaler_chart_version
  namespace  = "kube-system"
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    cloudProvider  = "aws"
    awsRegion      = local.region
    autoDiscovery  = { clusterName = aws_eks_cluster.this.name }
    image          = { tag = var.autoscaler_image_tag }
    rbac           = { serviceAccount = { create = true, name = "cluster-autoscaler" } }
    extraArgs      = { "balance-similar-node-groups" = true, "skip-nodes-with-system-pods" = false, "scale-down-unneeded-time" = "10m" }
    podAnnotations = { "cluster-autoscaler.kubernetes.io/safe-to-evict" = "false" }
  })]

  depends_on = [aws_eks_pod_identity_association.autoscaler, aws_eks_node_group.this]
}

# People and pipelines that administer the cluster (the applier is admin from creation on).
resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.cluster_admin_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"

  tags = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = aws_eks_access_entry.admin

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value.principal_arn
  policy_arn    = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# The data template's fan-out (deploy/argo/data.yaml): its partition pods, on any node, share the
# workflow's workspace, a ReadWriteMany volume: EFS through its CSI driver (StorageClass efs, made
# by modules/kubernetes-objects). Mount targets in the nodes' subnets, reached through the
# cluster security group that every managed node carries.
resource "aws_efs_file_system" "workspaces" {
  creation_token   = "${local.cluster_name}-workspaces"
  encrypted        = true
  kms_key_id       = aws_kms_key.eks.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_7_DAYS"
  }

  tags = merge(var.tags, { Name = "${local.cluster_name}-workspaces" })
}

resource "aws_efs_mount_target" "workspaces" {
  count = length(var.private_subnet_ids)

  file_system_id  = aws_efs_file_system.workspaces.id
  subnet_id       = var.private_subnet_ids[count.index]
  security_groups = [aws_eks_cluster.this.vpc_config[0].cluster_security_group_id]
}

resource "aws_iam_role" "efs_csi" {
  name               = "${local.cluster_name}-efs-csi"
  assume_role_policy = local.pod_identity_trust

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "efs_csi" {
  role       = aws_iam_role.efs_csi.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
}

resource "aws_eks_addon" "efs_csi" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "aws-efs-csi-driver"
  resolve_conflicts_on_update = "OVERWRITE"

  pod_identity_association {
    role_arn        = aws_iam_role.efs_csi.arn
    service_account = "efs-csi-controller-sa"
  }

  tags = var.tags

  depends_on = [aws_eks_addon.this, aws_efs_mount_target.workspaces]
}
