"""Name resolution without providers: variables, locals, module calls, outputs and tfvars.

What ``terraform validate`` would check offline: every reference resolves, every module call
passes its required variables and no unknown one, and each ``terraform.tfvars`` sets exactly what
its root declares, down to the attributes of the object an environment root forwards whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pipelines.infra.hcl import Finding, TfTree, blocks, walk_strings

ANY_TYPE = "any"
_META_ARGS = frozenset({"source", "version", "count", "for_each", "depends_on", "providers"})


def names(files: Iterable[Any], kind: str) -> dict[str, dict[str, Any]]:
    """Blocks of one kind (variable, output, module) across files, by label."""
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
        variables = names(files, "variable")
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
        calls = names(files, "module")
        for tf in files:
            for text in walk_strings({k: v for k, v in tf.doc.items() if k != "variable"}):
                for kind, name in re.findall(r"\b(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)", text):
                    if name not in (variables if kind == "var" else locals_):
                        findings.append(Finding(tf.path, f"{kind}.{name}", "is not declared"))
                for call, output in re.findall(
                    r"\bmodule\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)", text
                ):
                    target = module_dir(directory, calls.get(call, {}))
                    outputs = names(tree.in_dir(target), "output") if target is not None else {}
                    if output not in outputs:
                        findings.append(
                            Finding(tf.path, f"module.{call}.{output}", "no such output")
                        )
        for call, body in calls.items():
            target = module_dir(directory, body)
            if target is None or target not in tree.dirs:
                findings.append(
                    Finding(directory, f"module.{call}", "source is not a module in the tree")
                )
                continue
            declared = names(tree.in_dir(target), "variable")
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


def module_dir(directory: str, call: dict[str, Any]) -> str | None:
    """Tree directory of a module call with a relative source, or None."""
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
        for call, body in names(tree.in_dir(directory), "module").items()
        for argument, passed in body.items()
        if passed == f"${{var.{name}}}"
    ]
    if not targets:
        return [Finding(path, name, "type any but not passed whole to a typed module variable")]
    findings: list[Finding] = []
    for call, argument, body in targets:
        target = module_dir(directory, body)
        declared = names(tree.in_dir(target), "variable") if target is not None else {}
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
