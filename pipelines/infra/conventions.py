"""Structure rules: module layout, typed variables, tags, state backend, pins, wiring, sizing.

Tagging rule: every ``aws_*`` resource is taggable unless its type is in :data:`NOT_TAGGABLE`
(types whose provider schema has no ``tags`` argument). A taggable resource must set ``tags``
explicitly, and every environment's ``aws`` provider must carry ``default_tags`` with
:data:`COMMON_TAGS`. A new resource type is therefore assumed taggable until listed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pipelines.infra.hcl import Finding, TfTree, blocks, resources, sub_blocks, walk_strings

MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")
ENVIRONMENT_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "backend.tf")
COMMON_TAGS = frozenset({"Environment", "Project", "ManagedBy"})
NOT_TAGGABLE = frozenset(
    {
        "aws_cloudwatch_log_metric_filter",
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
ANY_TYPE = "any"
_META_ARGS = frozenset({"source", "version", "count", "for_each", "depends_on", "providers"})
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
    it is forwarded to (``check_wiring`` holds the tfvars to that type).
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
    target = _module_dir(directory, _names(tree.in_dir(directory), "module").get(match[1], {}))
    if target is None:
        return None
    files = tree.in_dir(target)
    value = _names(files, "output").get(match[2], {}).get("value")
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


def _names(files: Iterable[Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for tf in files for name, body in blocks(tf.doc, kind)}


def check_wiring(tree: TfTree) -> list[Finding]:
    """What ``terraform validate`` would check without providers: names resolve across modules.

    Every ``var.X`` and ``local.X`` used is declared; every module call points at a directory in
    the tree, passes every required variable and no unknown one; every ``module.M.O`` exists;
    ``terraform.tfvars`` sets every required variable of its directory and no undeclared one. A
    root variable of type ``any`` must be passed whole to an ``object(...)`` module variable, and
    its tfvars value must set every required attribute of that object and no other.
    """
    findings: list[Finding] = []
    for directory in sorted(tree.dirs):
        files = tree.in_dir(directory)
        variables = _names(files, "variable")
        for tfvars in tree.in_dir(directory, suffix="terraform.tfvars"):
            keys = {key for key in tfvars.doc if not key.startswith("__")}
            for name in sorted(keys - set(variables)):
                findings.append(Finding(tfvars.path, name, "is not a declared variable"))
            for name in sorted(n for n, b in variables.items() if "default" not in b):
                if name not in keys:
                    findings.append(Finding(tfvars.path, name, "required variable is not set"))
            for name in sorted(
                n for n in keys & set(variables) if variables[n].get("type") == ANY_TYPE
            ):
                findings.extend(
                    _forwarded_object(tree, directory, tfvars.path, name, tfvars.doc[name])
                )
        locals_ = {key for tf in files for entry in tf.doc.get("locals", []) for key in entry}
        calls = _names(files, "module")
        for tf in files:
            for text in walk_strings({k: v for k, v in tf.doc.items() if k != "variable"}):
                for kind, name in re.findall(r"\b(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)", text):
                    if name not in (variables if kind == "var" else locals_):
                        findings.append(Finding(tf.path, f"{kind}.{name}", "is not declared"))
                for call, output in re.findall(
                    r"\bmodule\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)", text
                ):
                    target = _module_dir(directory, calls.get(call, {}))
                    outputs = _names(tree.in_dir(target), "output") if target is not None else {}
                    if output not in outputs:
                        findings.append(
                            Finding(tf.path, f"module.{call}.{output}", "no such output")
                        )
        for call, body in calls.items():
            target = _module_dir(directory, body)
            if target is None or target not in tree.dirs:
                findings.append(
                    Finding(directory, f"module.{call}", "source is not a module in the tree")
                )
                continue
            declared = _names(tree.in_dir(target), "variable")
            passed = {key for key in body if not key.startswith("__")} - _META_ARGS
            for name in sorted(passed - set(declared)):
                findings.append(
                    Finding(directory, f"module.{call}.{name}", "module has no such variable")
                )
            for name in sorted(
                n for n, b in declared.items() if "default" not in b and n not in passed
            ):
                findings.append(
                    Finding(directory, f"module.{call}", f"required variable {name} not set")
                )
    return findings


def _module_dir(directory: str, call: dict[str, Any]) -> str | None:
    source = call.get("source")
    if not isinstance(source, str) or not source.startswith(("./", "../")):
        return None
    parts = [p for p in directory.split("/") if p]
    for piece in source.split("/"):
        if piece == "..":
            if not parts:
                return None
            parts.pop()
        elif piece not in {"", "."}:
            parts.append(piece)
    return "/".join(parts)


def _object_attributes(type_expr: Any) -> dict[str, bool] | None:
    """Top-level attributes of an ``object({...})`` type to whether each is required."""
    if not isinstance(type_expr, str) or not type_expr.startswith("${object({"):
        return None
    inner = type_expr[len("${object({") : -len("})}")]
    parts, depth, start = [], 0, 0
    for index, char in enumerate(inner):
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(inner[start:index])
            start = index + 1
    parts.append(inner[start:])
    attributes: dict[str, bool] = {}
    for part in parts:
        name, _, attr_type = part.partition("=")
        if name.strip():
            attributes[name.strip()] = not attr_type.strip().startswith("optional(")
    return attributes


def _forwarded_object(
    tree: TfTree, directory: str, path: str, name: str, value: Any
) -> list[Finding]:
    """Hold the tfvars value of an ``any`` root variable to the object type it is passed to."""
    targets = [
        (call, argument, body)
        for call, body in _names(tree.in_dir(directory), "module").items()
        for argument, passed in body.items()
        if passed == f"${{var.{name}}}"
    ]
    if not targets:
        return [Finding(path, name, "type any but not passed whole to a typed module variable")]
    findings: list[Finding] = []
    for call, argument, body in targets:
        target = _module_dir(directory, body)
        declared = _names(tree.in_dir(target), "variable") if target is not None else {}
        attributes = _object_attributes(declared.get(argument, {}).get("type"))
        if attributes is None:
            findings.append(
                Finding(path, name, f"module.{call}.{argument} is not an object-typed variable")
            )
            continue
        if not isinstance(value, dict):
            findings.append(Finding(path, name, "expected an object"))
            continue
        keys = {key for key in value if not key.startswith("__")}
        for key in sorted(keys - set(attributes)):
            findings.append(
                Finding(path, f"{name}.{key}", f"is not an attribute of module.{call}.{argument}")
            )
        for key in sorted(k for k, required in attributes.items() if required and k not in keys):
            findings.append(Finding(path, name, f"required attribute {key} is not set"))
    return findings
