"""The AWS side of ``pipelines doctor``: each workflow environment's OIDC role.

A role is usable by a job when it exists and its trust policy lets GitHub's OIDC provider assume
it for exactly ``repo:<owner>/<repo>:environment:<environment>`` with audience
``sts.amazonaws.com`` (no wildcard). Outside a GitHub job there is no OIDC token to present, so
against AWS the trust policy is what is checked (``iam:GetRole``); against a local endpoint
(``AWS_ENDPOINT_URL``, the twin's moto) the role is also assumed through STS.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from pipelines.delivery.doctor_github import Check

GITHUB_ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"


def subject(repository: str, environment: str) -> str:
    """The OIDC ``sub`` claim of a job of ``repository`` running in ``environment``."""
    return f"repo:{repository}:environment:{environment}"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def trusts(policy: Mapping[str, Any], repository: str, environment: str) -> bool:
    """Whether a trust policy allows exactly this repository's jobs in ``environment``."""
    wanted = subject(repository, environment)
    for statement in _as_list(policy.get("Statement") or []):
        if statement.get("Effect") != "Allow":
            continue
        if "sts:AssumeRoleWithWebIdentity" not in _as_list(statement.get("Action")):
            continue
        federated = _as_list((statement.get("Principal") or {}).get("Federated"))
        if not any(str(p).endswith(f"oidc-provider/{GITHUB_ISSUER}") for p in federated):
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals") or {}
        subs = _as_list(equals.get(f"{GITHUB_ISSUER}:sub"))
        auds = _as_list(equals.get(f"{GITHUB_ISSUER}:aud"))
        if subs == [wanted] and auds == [AUDIENCE]:
            return True
    return False


def _unsigned_token(repository: str, environment: str) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    claims = {"iss": f"https://{GITHUB_ISSUER}", "aud": AUDIENCE}
    claims["sub"] = subject(repository, environment)
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def role_check(
    environment: str, arn: str | None, repository: str, environ: Mapping[str, str]
) -> Check:
    """The environment's role exists and trusts exactly its jobs (and assumes, locally)."""
    item = f"aws role for environment {environment}"
    if not arn:
        return Check(
            "missing", item, f"variable AWS_ROLE_ARN not set for environment {environment}"
        )
    if ":role/" not in arn:
        return Check("missing", item, f"{arn}: not a role ARN")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    name = arn.split(":role/", 1)[1].rsplit("/", 1)[-1]
    try:
        role = boto3.client("iam").get_role(RoleName=name)["Role"]
    except (BotoCoreError, ClientError) as exc:
        return Check("missing", item, f"{arn}: cannot read the role ({exc})")
    policy = role.get("AssumeRolePolicyDocument") or {}
    if isinstance(policy, str):
        policy = json.loads(unquote(policy))
    if not trusts(policy, repository, environment):
        return Check(
            "missing",
            item,
            f"{arn}: trust policy does not allow exactly {subject(repository, environment)}",
        )
    if environ.get("AWS_ENDPOINT_URL"):
        try:
            boto3.client("sts").assume_role_with_web_identity(
                RoleArn=arn,
                RoleSessionName="pipelines-doctor",
                WebIdentityToken=_unsigned_token(repository, environment),
            )
        except (BotoCoreError, ClientError) as exc:
            return Check("missing", item, f"{arn}: STS refused it ({exc})")
        return Check("ok", item, f"{arn}: trusts {subject(repository, environment)}; assumed")
    return Check("ok", item, f"{arn}: trusts {subject(repository, environment)}")
