"""Sub-commands of delivery to a cluster: deploy and the deploy WorkflowTemplate's steps.

The steps are ``smoke``, ``verify-artifact``, ``registry-alias`` and ``dispatch-rollback``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pipelines.config import load_params
from pipelines.delivery.actions import set_outputs
from pipelines.errors import PipelineError

TOOLS_IMAGE_ENV = "TOOLS_IMAGE"  # written by .github/scripts/image-digest


def _tracking_uri(params: Any) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or str(params.mlflow_tracking_uri)


def _deploy(args: argparse.Namespace) -> int:
    from pipelines.delivery.argo import ArgoClient, server_from
    from pipelines.delivery.deploy import deploy

    params = load_params(args.params).delivery
    environments = args.env or list(params.environments)
    tools_image = args.tools_image or os.environ.get(TOOLS_IMAGE_ENV, "")
    if not tools_image:
        raise PipelineError(f"deploy: give --tools-image or set {TOOLS_IMAGE_ENV} (by digest)")
    server = server_from(args.argo_server, None, args.namespace, args.eks_cluster or None)
    outcomes = deploy(
        Path.cwd(),
        environments,
        ArgoClient(server),
        since=args.since,
        tools_image=tools_image,
        wait_seconds=None if args.no_wait else args.timeout,
        poll_seconds=args.poll,
    )
    outputs: dict[str, str] = {}
    for outcome in outcomes:
        sys.stdout.write(outcome.line() + "\n")
        outputs[f"{outcome.environment}_deployed"] = str(outcome.workflow is not None).lower()
        outputs[f"{outcome.environment}_model_version"] = outcome.model_version
        outputs[f"{outcome.environment}_phase"] = outcome.phase
    if len(outcomes) == 1:  # one environment (a deploy job): unprefixed names too
        (only,) = outcomes
        outputs["deployed"] = str(only.workflow is not None).lower()
        outputs["model_version"] = only.model_version
        outputs["phase"] = only.phase
    set_outputs(outputs)
    failed = [o.environment for o in outcomes if not o.ok]
    if failed:
        sys.stderr.write(f"error: deploy did not succeed for {', '.join(failed)}\n")
        return 1
    return 0


def _smoke(args: argparse.Namespace) -> int:
    from pipelines.delivery.smoke import smoke

    result = smoke(
        load_params(args.params),
        args.url,
        Path(args.manifest),
        Path(args.settings),
        ready_timeout=args.ready_timeout,
    )
    sys.stdout.write(
        f"smoke: {result.instrument} ({result.bars} bars to {result.last_bar}) -> position "
        f"{result.position:g} from {result.model_version} (sha256 {result.sha256})\n"
    )
    return 0


def _verify_artifact(args: argparse.Namespace) -> int:
    from pipelines.delivery.artifact import verify

    digest = verify(
        Path(args.manifest), Path(args.download_to), Path.cwd(), args.expect_image or None
    )
    sys.stdout.write(f"{args.manifest}: artifact verified (sha256 {digest})\n")
    return 0


def _registry_alias(args: argparse.Namespace) -> int:
    from pipelines.delivery.digests import MlflowRegistry, move_alias
    from pipelines.registry.manifest import read_manifest, unit_key

    params = load_params(args.params).delivery
    uri = _tracking_uri(params)
    key = unit_key(read_manifest(args.manifest))
    if key is None:
        sys.stdout.write(f"{args.manifest}: nothing deployed; alias unchanged\n")
        return 0
    name, version, sha, image = key
    registry = MlflowRegistry(uri)
    if not registry.knows(name, version, sha):
        raise PipelineError(
            f"{args.manifest}: {name} {version} with sha256 {sha[:12]} is unknown to the "
            "model registry"
        )
    previous = move_alias(uri, name, args.env, version)
    registry.record_deployed(name, version, args.env, image)
    sys.stdout.write(
        f"{name}: alias {args.env} -> {version} (was {previous or 'unset'}); "
        f"recorded deployed.{args.env} with {image}\n"
    )
    return 0


def _dispatch_rollback(args: argparse.Namespace) -> int:
    from pipelines.delivery.github import GitHubClient
    from pipelines.registry.manifest import model_key, read_manifest

    params = load_params(args.params).delivery
    token, repo = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if not token or not repo:
        raise PipelineError("dispatch-rollback: GITHUB_TOKEN and GITHUB_REPOSITORY must be set")
    client = GitHubClient(repo, token, os.environ.get("GITHUB_API_URL") or params.github_api_url)
    payload = {"environment": args.env, "reason": args.reason}
    # The checkout may be what failed: the payload then carries no digest.
    if args.manifest and Path(args.manifest).is_file():
        key = model_key(read_manifest(args.manifest))
        if key is not None:
            payload |= {"model_version": key[1], "sha256": key[2]}
    client.dispatch("rollback", payload)
    sys.stdout.write(f"{args.env}: rollback requested ({args.reason})\n")
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add deploy, smoke, verify-artifact, registry-alias and dispatch-rollback."""
    deploy = commands.add_parser(
        "deploy",
        help="submit the Argo deploy WorkflowTemplate for each changed environment and watch it",
    )
    deploy.add_argument(
        "--env", action="append", help="only this environment (repeatable; default: all)"
    )
    deploy.add_argument(
        "--since",
        "--changed-since",
        dest="since",
        help="deploy only environments changed since this commit (the push's before)",
    )
    deploy.add_argument("--argo-server", help="Argo Server URL (default: $ARGO_SERVER)")
    deploy.add_argument("--namespace", help="Workflows namespace (default: $ARGO_NAMESPACE, argo)")
    deploy.add_argument(
        "--eks-cluster", help="take the bearer token from `aws eks get-token` (no $ARGO_TOKEN)"
    )
    deploy.add_argument(
        "--tools-image", help=f"tools image by digest (default: ${TOOLS_IMAGE_ENV})"
    )
    deploy.add_argument("--no-wait", action="store_true", help="submit only, do not watch")
    deploy.add_argument("--wait", action="store_true", help=argparse.SUPPRESS)  # the default
    deploy.add_argument("--timeout", type=float, default=5400.0, help="seconds to watch")
    deploy.add_argument(
        "--poll",
        type=float,
        default=1.0,
        help="seconds between polls of the Argo Server (one GET per workflow; default 1)",
    )
    deploy.set_defaults(handler=_deploy)

    smoke = commands.add_parser(
        "smoke", help="one real signal request to a service; check its model digest"
    )
    smoke.add_argument("--url", required=True, help="service base URL, e.g. http://10.0.0.7:8080")
    smoke.add_argument("--manifest", required=True, help="environments/<env>/model.yaml")
    smoke.add_argument("--settings", required=True, help="environments/<env>/settings.yaml")
    smoke.add_argument("--ready-timeout", type=float, default=120.0, help="seconds for /readyz")
    smoke.set_defaults(handler=_smoke)

    verify = commands.add_parser(
        "verify-artifact", help="download a manifest's model artifact and check its sha256"
    )
    verify.add_argument("--manifest", required=True)
    verify.add_argument("--download-to", required=True)
    verify.add_argument("--expect-image", help="refuse unless the manifest names this image")
    verify.set_defaults(handler=_verify_artifact)

    alias = commands.add_parser(
        "registry-alias",
        help="after a healthy deploy: move MLflow alias ENV to the version, record deployed.ENV",
    )
    alias.add_argument("--env", required=True)
    alias.add_argument("--manifest", required=True)
    alias.set_defaults(handler=_registry_alias)

    dispatch = commands.add_parser(
        "dispatch-rollback", help="ask GitHub to run the rollback workflow (repository_dispatch)"
    )
    dispatch.add_argument("--env", required=True)
    dispatch.add_argument("--reason", required=True)
    dispatch.add_argument("--manifest", help="adds the failed model version and sha256")
    dispatch.set_defaults(handler=_dispatch_rollback)
