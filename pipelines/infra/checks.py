"""Security rules checkov does not cover: open ingress, literal secrets, skip reasons, OIDC scope.

Every function is pure: it takes the loaded :class:`~pipelines.infra.hcl.TfTree` and returns
findings (an empty list when the rule holds).
"""

from __future__ import annotations

import re
from typing import Any

from pipelines.infra.hcl import Finding, TfTree, blocks, is_expression, resources, sub_blocks

OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
# The only ports the internet may reach: HTTP(S) on a public load balancer.
PUBLIC_PORTS = frozenset({80, 443})

_SECRET_WORD = re.compile(r"(password|passwd|secret|token|api_?key|access_?key|private_?key)", re.I)
# Names that point at a secret rather than hold one.
_REFERENCE_SUFFIX = re.compile(
    r"(_name|_names|_arn|_arns|_id|_ids|_kms_key_id|_days|_enabled|_version|_prefix|_window)$"
)
_SAFE_NAMES = frozenset({"manage_master_user_password", "description", "http_tokens"})
_SECRET_VALUE = (
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
)
_SKIP = re.compile(r"checkov:skip=([^\s:]*)(?::(.*))?")
_SKIP_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
MIN_SKIP_REASON = 15


def _ports(body: dict[str, Any]) -> tuple[int, int] | None:
    """Port range of a rule, or None when it is all protocols or not a literal."""
    protocol = str(body.get("ip_protocol", body.get("protocol", "")))
    low, high = body.get("from_port"), body.get("to_port")
    if protocol in {"-1", "all"} or not isinstance(low, int) or not isinstance(high, int):
        return None
    return low, high


def _cidrs(body: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for key in ("cidr_blocks", "ipv6_cidr_blocks", "cidr_ipv4", "cidr_ipv6"):
        value = body.get(key)
        items = value if isinstance(value, list) else [value]
        found.update(str(item) for item in items if item is not None)
    return found


def _open_rule_problem(body: dict[str, Any]) -> str | None:
    open_to = _cidrs(body) & OPEN_CIDRS
    if not open_to:
        return None
    ports = _ports(body)
    where = ", ".join(sorted(open_to))
    allowed = f"only {sorted(PUBLIC_PORTS)} may be public"
    if ports is None:
        return f"ingress from {where} on all or non-literal ports; {allowed}"
    low, high = ports
    if all(port in PUBLIC_PORTS for port in range(low, high + 1)):
        return None
    return f"ingress from {where} to port(s) {low}-{high}; {allowed}"


def check_open_ingress(tree: TfTree) -> list[Finding]:
    """No security-group ingress from 0.0.0.0/0 or ::/0 except to ports 80 and 443.

    Covers inline ``ingress`` blocks, ``aws_security_group_rule`` of type ingress and
    ``aws_vpc_security_group_ingress_rule``. A rule whose ports are not literal fails (fail closed).
    """
    findings: list[Finding] = []
    for tf in tree.files:
        for rtype, name, body in resources(tf.doc):
            rules: list[dict[str, Any]] = []
            if rtype == "aws_security_group":
                rules = sub_blocks(body, "ingress")
            elif rtype == "aws_vpc_security_group_ingress_rule" or (
                rtype == "aws_security_group_rule" and body.get("type") == "ingress"
            ):
                rules = [body]
            for rule in rules:
                problem = _open_rule_problem(rule)
                if problem:
                    findings.append(Finding(tf.path, f"{rtype}.{name}", problem))
    return findings


def _is_secret_name(name: str) -> bool:
    return (
        name not in _SAFE_NAMES
        and bool(_SECRET_WORD.search(name))
        and not _REFERENCE_SUFFIX.search(name)
    )


def _secret_assignments(value: Any, path: str) -> list[tuple[str, str]]:
    """(attribute path, literal) pairs whose name says secret and whose value is a literal."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("__"):
                continue
            here = f"{path}.{key}" if path else key
            if isinstance(item, str) and item and not is_expression(item) and _is_secret_name(key):
                found.append((here, item))
            found.extend(_secret_assignments(item, here))
    elif isinstance(value, list):
        for item in value:
            found.extend(_secret_assignments(item, path))
    return found


def check_literal_secrets(tree: TfTree) -> list[Finding]:
    """No password, token or key written as a literal, in code, defaults or tfvars.

    A secret-named attribute (``password``, ``secret_string``, ``api_key`` ...) must be an
    expression; a secret-named variable must have no literal default; and no string anywhere may
    look like an AWS access key, a private key or a GitHub token.
    """
    findings: list[Finding] = []
    for tf in tree.files:
        for address, _ in _secret_assignments(tf.doc, ""):
            findings.append(Finding(tf.path, address, "secret-like attribute has a literal value"))
        for name, body in blocks(tf.doc, "variable"):
            default = body.get("default")
            if _is_secret_name(name) and isinstance(default, str) and default:
                findings.append(
                    Finding(
                        tf.path, f"variable.{name}", "secret-like variable has a literal default"
                    )
                )
        for pattern in _SECRET_VALUE:
            if pattern.search(tf.text):
                findings.append(
                    Finding(
                        tf.path, "file", f"text matches a credential pattern ({pattern.pattern})"
                    )
                )
    return findings


def check_skip_reasons(tree: TfTree) -> list[Finding]:
    """Every ``#checkov:skip=`` names one check ID and gives a reason of some length."""
    findings: list[Finding] = []
    for tf in tree.files:
        for number, line in enumerate(tf.text.splitlines(), start=1):
            match = _SKIP.search(line)
            if not match:
                continue
            check_id, reason = match.group(1), (match.group(2) or "").strip()
            if not _SKIP_ID.match(check_id):
                findings.append(Finding(tf.path, f"line {number}", f"bad check id {check_id!r}"))
            elif len(reason) < MIN_SKIP_REASON:
                findings.append(
                    Finding(
                        tf.path,
                        f"line {number}",
                        f"skip of {check_id} needs a reason ({MIN_SKIP_REASON}+ characters)",
                    )
                )
    return findings


def check_github_trust(tree: TfTree) -> list[Finding]:
    """Roles trusting GitHub's OIDC issuer are pinned to one repository and one environment.

    The trust policy must match ``sub`` with ``StringEquals`` (no ``StringLike`` wildcards) on
    ``repo:<repository>:environment:<name>`` and must check the ``aud`` claim.
    """
    findings: list[Finding] = []
    for tf in tree.files:
        for rtype, name, body in resources(tf.doc):
            policy = str(body.get("assume_role_policy", ""))
            if rtype != "aws_iam_role" or "token.actions.githubusercontent.com" not in policy:
                continue
            where = f"{rtype}.{name}"
            if "StringLike" in policy or re.search(r":sub\W+=\s*\"[^\"]*\*", policy):
                findings.append(Finding(tf.path, where, "GitHub trust uses a wildcard subject"))
            if ":environment:" not in policy or not re.search(r"repo:[^\"]+:environment:", policy):
                findings.append(
                    Finding(tf.path, where, "GitHub trust must pin repo:OWNER/REPO:environment:ENV")
                )
            if ":aud" not in policy:
                findings.append(Finding(tf.path, where, "GitHub trust must check the aud claim"))
    return findings
