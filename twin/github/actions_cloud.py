"""Identity actions: ``aws-actions/configure-aws-credentials``, ``actions/create-github-app-token``.

AWS: the job needs ``id-token: write`` and its OIDC subject must be trusted by the role in the
twin's role table (``aws.roles``: role ARN -> subject patterns, ``*`` as in IAM StringLike).
Subjects follow GitHub: ``repo:<owner>/<repo>:environment:<env>`` for a job with an
environment, ``repo:<owner>/<repo>:pull_request`` for pull requests, else
``repo:<owner>/<repo>:ref:<ref>``. The credentials are moto's dummy ones (not masked: they are
public test values), with ``AWS_ENDPOINT_URL`` pointing at the twin's S3.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from twin import state
from twin.github.actions_table import ActionCall, ActionFailed
from twin.github.config import NAME, OWNER, REPOSITORY
from twin.github.tokens import LEVEL

ACCOUNT_ID = "123456789012"
DENIED = "Could not assume role with OIDC: Not authorized to perform sts:AssumeRoleWithWebIdentity"
DEFAULT_APP_PERMISSIONS = {"contents": "write", "pull-requests": "write"}


def oidc_subject(call: ActionCall) -> str:
    """The ``sub`` claim of the job's OIDC token."""
    job = call.job
    if job.environment:
        return f"repo:{REPOSITORY}:environment:{job.environment}"
    if job.event.name in ("pull_request", "pull_request_target"):
        return f"repo:{REPOSITORY}:pull_request"
    return f"repo:{REPOSITORY}:ref:{job.event.ref}"


def _endpoint(call: ActionCall) -> str:
    twin = call.job.twin
    configured = str(twin.config["aws"].get("endpoint_url") or "")
    if configured:
        return configured
    doc = state.load(twin.twin_home)
    if doc["env"].get("AWS_ENDPOINT_URL"):
        return str(doc["env"]["AWS_ENDPOINT_URL"])
    return str((doc["services"].get("moto") or {}).get("url") or "")


def configure_aws_credentials(call: ActionCall) -> None:
    """Assume the role (checked against the twin's trust table) and export the credentials."""
    job = call.job
    role, static_key = call.input("role-to-assume"), call.input("aws-access-key-id")
    region = call.input("aws-region")
    if not region:
        raise ActionFailed("Input required and not supplied: aws-region")
    if not role and not static_key:
        raise ActionFailed(
            "Credentials could not be loaded, please check your action inputs: "
            "role-to-assume is empty"
        )
    if role:
        token = job.twin.tokens.get(job.token_value)
        if token is None or not token.can("id-token", "write"):
            raise ActionFailed(
                "It looks like you might be trying to authenticate with OIDC. "
                "Did you mean to set the `id-token` permission?"
            )
        subject = oidc_subject(call)
        roles: dict[str, Any] = job.twin.config["aws"]["roles"]
        if role not in roles:
            raise ActionFailed(f"{DENIED} ({role} is not a role of the twin)")
        if not any(fnmatchcase(subject, str(p)) for p in roles[role] or []):
            raise ActionFailed(f"{DENIED} ({role} does not trust {subject})")
        values = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
        }
        call.log(f"Assumed {role} as {subject}")
    else:
        values = {
            "AWS_ACCESS_KEY_ID": static_key,
            "AWS_SECRET_ACCESS_KEY": call.input("aws-secret-access-key"),
        }
        if call.input("aws-session-token"):
            values["AWS_SESSION_TOKEN"] = call.input("aws-session-token")
        job.add_mask(values["AWS_SECRET_ACCESS_KEY"])
    values |= {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    endpoint = _endpoint(call)
    if endpoint:
        values["AWS_ENDPOINT_URL"] = endpoint
    for name, value in values.items():
        job.set_env(name, value)
    call.outputs["aws-account-id"] = ACCOUNT_ID


def _app(call: ActionCall) -> tuple[str, dict[str, Any]]:
    app_id = call.input("app-id") or call.input("client-id")
    key = call.input("private-key")
    if not app_id:
        raise ActionFailed("Input required and not supplied: app-id (or client-id)")
    if not key:
        raise ActionFailed("Input required and not supplied: private-key")
    apps: dict[str, Any] = call.job.twin.config["apps"]
    app = apps.get(app_id) or next(
        (a for a in apps.values() if str(a.get("client_id", "")) == app_id), None
    )
    if app is None:
        raise ActionFailed(
            f"app-id {app_id}: no GitHub App with this id is installed on {REPOSITORY}"
        )
    expected = str(app.get("private_key") or "").strip()
    if expected and key.strip() != expected:
        raise ActionFailed(f"[@octokit/auth-app] the private key does not belong to app {app_id}")
    return app_id, app


def create_github_app_token(call: ActionCall) -> None:
    """Mint an installation token of a GitHub App configured in the twin."""
    app_id, app = _app(call)
    owner = call.input("owner", OWNER)
    repositories = [
        r.strip()
        for r in call.input("repositories", NAME).replace("\n", ",").split(",")
        if r.strip()
    ]
    if owner != OWNER or any(r not in (NAME, REPOSITORY) for r in repositories):
        raise ActionFailed(
            f"the App is installed only on {REPOSITORY} "
            f"(owner {owner}, repositories {repositories})"
        )
    granted: dict[str, str] = dict(app.get("permissions") or DEFAULT_APP_PERMISSIONS)
    permissions = dict(granted)
    asked = {
        k.removeprefix("permission-"): v
        for k, v in call.inputs.items()
        if k.startswith("permission-") and v
    }
    if asked:
        permissions = {}
        for scope, level in asked.items():
            if LEVEL.get(level, 3) > LEVEL[granted.get(scope, "none")]:
                raise ActionFailed(
                    "The permissions requested are not granted to this installation "
                    f"({scope}: {level})"
                )
            permissions[scope] = level
    slug = str(app.get("slug") or f"app-{app_id}")
    token = call.job.twin.tokens.mint("app", f"{slug}[bot]", permissions)
    call.job.add_mask(token.value)
    if not call.flag("skip-token-revoke", False):
        call.job.revoke_at_end(token.value)
    call.log(f"Created an installation token for {slug} with {permissions}")
    call.outputs.update(
        {
            "token": token.value,
            "installation-id": str(app.get("installation_id", 1)),
            "app-slug": slug,
        }
    )
