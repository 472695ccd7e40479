"""The workflow environments' OIDC roles in the twin's AWS (moto), as Terraform creates them.

Terraform's identity module gives each GitHub workflow environment one role that trusts GitHub's
OIDC provider for exactly ``repo:<owner>/<repo>:environment:<env>`` and audience
``sts.amazonaws.com``. The twin creates the same roles (names from ``repo_settings.role_arn``)
so that ``pipelines doctor`` reads and assumes them as it would in AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3

from twin.github.config import REPOSITORY

ISSUER = "token.actions.githubusercontent.com"


def trust_policy(account: str, environment: str) -> dict[str, Any]:
    """GitHub OIDC trust for one workflow environment of the repository."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{ISSUER}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{ISSUER}:sub": f"repo:{REPOSITORY}:environment:{environment}",
                        f"{ISSUER}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def create_roles(env: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    """Create every ``AWS_ROLE_ARN`` the GitHub config names (idempotent); their names."""
    iam = boto3.client(
        "iam",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    existing = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    made = []
    for environment, scope in sorted((config.get("environments") or {}).items()):
        arn = (scope.get("variables") or {}).get("AWS_ROLE_ARN")
        if not arn:
            continue
        account, name = arn.split(":")[4], arn.split(":role/", 1)[1]
        if name not in existing:
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust_policy(account, environment)),
                Description=f"GitHub Actions, environment {environment} (twin)",
            )
        made.append(name)
    return made
