"""Structure rules: module layout, typed variables, tags, state backend, pins.

Tagging rule: every ``aws_*`` resource is taggable unless its type is in :data:`NOT_TAGGABLE`
(types whose provider schema has no ``tags`` argument). A taggable resource must set ``tags``
explicitly, and every environment's ``aws`` provider must carry ``default_tags`` with
:data:`COMMON_TAGS`. A new resource type is therefore assumed taggable until listed here.
"""

from __future__ import annotations

import re
from typing import Any

from pipelines.infra.hcl import Finding, TfTree, blocks, resources, sub_blocks
from pipelines.infra.wiring import ANY_TYPE, module_dir, names

MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")
ENVIRONMENT_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "backend.tf")
COMMON_TAGS = frozenset({"Environment", "Project", "ManagedBy"})
NOT_TAGGABLE = frozenset(
    {
        "aws_cloudwatch_log_metric_filter",
        "aws_efs_mount_target",
        "aws_eks_access_policy_association",
        "aws_iam_role_policy",
        "aws_iam_role_policy_attachment",
        "aws_kms_alias",
        "aws_route",
        "aws_route_table_association",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_logging",
        "aws_s3_bucket_notification",
        "aws_s3_bucket_object_lock_configuration",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_sns_topic_subscription",
    }
)
_EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def _dirs_under(tree: TfTree, prefix: str) -> list[str]:
    return sorted(
        d for d in tree.dirs if d.startswith(prefix) and d.count("/") == prefix.count("/")
    )


def check_layout(tree: TfTree) -> list[Finding]:
    """Every ``modules/<name>`` has the four files; every ``environments/<env>`` has its five."""
    findings: list[Finding] = []
    for prefix, required in (("modules/", MODULE_FILES), ("environments/", ENVIRONMENT_FILES)):
        for directory in _dirs_under(tree, prefix):
            for name in required:
                if name not in tree.dirs[directory]:
                    findings.append(Finding(directory, name, "required file is missing"))
    return findings


def check_variables(tree: TfTree) -> list[Finding]:
    """Every variable has a ``type`` and a non-empty ``description``.

    ``any`` is allowed only in an environment root, whose variable is then typed by the module
    it is forwarded to (``wiring.check_wiring`` holds the tfvars to that type).
    """
    findings: list[Finding] = []
    for tf in tree.files:
        for name, body in blocks(tf.doc, "variable"):
            if "type" not in body:
                findings.append(Finding(tf.path, f"variable.{name}", "has no type"))
            elif body["type"] == ANY_TYPE and not tf.directory.startswith("environments/"):
                findings.append(
                    Finding(tf.path, f"variable.{name}", "type any only in an environment root")
                )
            if not str(body.get("description", "")).strip():
                findings.append(Finding(tf.path, f"variable.{name}", "has no description"))
    return findings


def check_tags(tree: TfTree) -> list[Finding]:
    """Taggable resources set ``tags``; environment providers set the common default tags."""
    findings: list[Finding] = []
    for tf in tree.files:
        for rtype, name, body in resources(tf.doc):
            if rtype.startswith("aws_") and rtype not in NOT_TAGGABLE and "tags" not in body:
                findings.append(
                    Finding(tf.path, f"{rtype}.{name}", "taggable resource has no tags")
                )
    for directory in _dirs_under(tree, "environments/"):
        files = tree.in_dir(directory)
        local_values: dict[str, Any] = {}
        for tf in files:
            for entry in tf.doc.get("locals", []):
                local_values.update(entry)
        providers = [
            (tf, body)
            for tf in files
            for label, body in blocks(tf.doc, "provider")
            if label == "aws"
        ]
        if not providers:
            findings.append(Finding(directory, "provider.aws", "environment has no aws provider"))
        for tf, body in providers:
            default_tags = sub_blocks(body, "default_tags")
            tags = default_tags[0].get("tags") if default_tags else None
            if isinstance(tags, str) and tags.startswith("${local.") and tags.endswith("}"):
                tags = local_values.get(tags[len("${local.") : -1])
            elif isinstance(tags, str):
                tags = _module_output_value(tree, directory, tags)
            missing = COMMON_TAGS - set(tags) if isinstance(tags, dict) else COMMON_TAGS
            if missing:
                findings.append(
                    Finding(tf.path, "provider.aws", f"default_tags lacks {sorted(missing)}")
                )
    return findings


def _module_output_value(tree: TfTree, directory: str, expression: str) -> Any:
    """The literal value behind ``${module.M.O}`` (through one ``local.`` of that module)."""
    match = re.fullmatch(r"\$\{module\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\}", expression)
    if not match:
        return None
    target = module_dir(directory, names(tree.in_dir(directory), "module").get(match[1], {}))
    if target is None:
        return None
    files = tree.in_dir(target)
    value = names(files, "output").get(match[2], {}).get("value")
    if isinstance(value, str) and value.startswith("${local.") and value.endswith("}"):
        local_values = {
            k: v for tf in files for entry in tf.doc.get("locals", []) for k, v in entry.items()
        }
        value = local_values.get(value[len("${local.") : -1])
    return value


def check_backend(tree: TfTree) -> list[Finding]:
    """Each environment keeps state in S3, encrypted, with locking (lockfile or DynamoDB)."""
    findings: list[Finding] = []
    for directory in _dirs_under(tree, "environments/"):
        backends = [
            (tf, label, body)
            for tf in tree.in_dir(directory)
            for settings in tf.doc.get("terraform", [])
            for label, body in blocks(settings, "backend")
        ]
        if len(backends) != 1 or backends[0][1] != "s3":
            findings.append(Finding(directory, "terraform.backend", "expected one s3 backend"))
            continue
        tf, _, body = backends[0]
        if body.get("encrypt") is not True:
            findings.append(Finding(tf.path, "backend.s3", "state must be encrypted"))
        if body.get("use_lockfile") is not True and not body.get("dynamodb_table"):
            findings.append(Finding(tf.path, "backend.s3", "state must be locked"))
    return findings


def check_pins(tree: TfTree) -> list[Finding]:
    """Providers carry a version constraint; Helm charts an exact version."""
    findings: list[Finding] = []
    for tf in tree.files:
        for settings in tf.doc.get("terraform", []):
            for entry in settings.get("required_providers", []):
                for provider, spec in entry.items():
                    if isinstance(spec, dict) and not spec.get("version"):
                        findings.append(Finding(tf.path, f"provider.{provider}", "no version pin"))
        defaults = {
            name: body.get("default")
            for f in tree.in_dir(tf.directory)
            for name, body in blocks(f.doc, "variable")
        }
        for rtype, name, body in resources(tf.doc):
            if rtype != "helm_release":
                continue
            version = body.get("version")
            if isinstance(version, str) and version.startswith("${var.") and version.endswith("}"):
                version = defaults.get(version[len("${var.") : -1])
            if not isinstance(version, str) or not _EXACT_VERSION.match(version):
                findings.append(Finding(tf.path, f"{rtype}.{name}", "chart version is not pinned"))
    return findings
