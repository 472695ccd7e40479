"""Per-environment sizing rules (from tfvars) and the one entry point that runs every rule.

checkov sees the modules, not the values: multi-AZ and deletion protection are skipped there
because they are per-environment variables. These rules hold the values to the design: prod is
highly available and protected, dev and staging run on spot capacity behind a single NAT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipelines.infra import checks, conventions, wiring
from pipelines.infra.hcl import SETTINGS_VARIABLE, Finding, TfTree, environment_settings

PROD_REQUIRED: dict[str, Any] = {
    "single_nat_gateway": False,
    "db_multi_az": True,
    "db_deletion_protection": True,
}
SMALL_REQUIRED: dict[str, Any] = {"single_nat_gateway": True, "db_multi_az": False}
PROD_MIN_AZS = 3
# The runner scale set's pods select and tolerate this (modules/platform passes it to runners).
RUNNER_LABEL = ("workload", "runners")


def check_environment_sizing(tree: TfTree) -> list[Finding]:
    """prod: NAT per AZ, >= 3 AZs, Multi-AZ protected database, on-demand nodes, 2+ replicas.

    dev and staging: one NAT, single-AZ database, spot nodes. Each environment's tfvars names
    itself in ``environment``. The values are the attributes of the settings object
    (:data:`~pipelines.infra.hcl.SETTINGS_VARIABLE`) in each ``terraform.tfvars``.
    """
    findings: list[Finding] = []
    for env in ("dev", "staging", "prod"):
        loaded = environment_settings(tree, env)
        if loaded is None:
            findings.append(Finding(f"environments/{env}", "terraform.tfvars", "missing"))
            continue
        path, values = loaded
        prefix = f"{SETTINGS_VARIABLE}."
        if values.get("environment") != env:
            findings.append(Finding(path, f"{prefix}environment", f"expected {env!r}"))
        required = PROD_REQUIRED if env == "prod" else SMALL_REQUIRED
        for key, expected in required.items():
            if values.get(key) != expected:
                findings.append(Finding(path, f"{prefix}{key}", f"expected {expected!r} in {env}"))
        capacity = "ON_DEMAND" if env == "prod" else "SPOT"
        for group, spec in (values.get("node_groups") or {}).items():
            if not isinstance(spec, dict) or spec.get("capacity_type") != capacity:
                findings.append(
                    Finding(path, f"{prefix}node_groups.{group}", f"expected {capacity} in {env}")
                )
        findings.extend(_runner_group(path, values))
        if env == "prod":
            if len(values.get("availability_zones") or []) < PROD_MIN_AZS:
                findings.append(
                    Finding(path, f"{prefix}availability_zones", f"prod needs {PROD_MIN_AZS}+")
                )
            for key in ("controller_replicas", "mlflow_replicas"):
                if not isinstance(values.get(key), int) or values[key] < 2:
                    findings.append(
                        Finding(path, f"{prefix}{key}", "prod needs at least 2 replicas")
                    )
    return findings


def _runner_group(path: str, values: dict[str, Any]) -> list[Finding]:
    """A stack with GitHub roles runs their jobs: it needs the runners' own tainted node group."""
    if not values.get("github_workflow_environments"):
        return []
    key, value = RUNNER_LABEL
    for spec in (values.get("node_groups") or {}).values():
        if not isinstance(spec, dict) or (spec.get("labels") or {}).get(key) != value:
            continue
        taints = spec.get("taints") or []
        if {"key": key, "value": value, "effect": "NoSchedule"} not in taints:
            return [
                Finding(path, f"{SETTINGS_VARIABLE}.node_groups", "runner group lacks its taint")
            ]
        return []
    return [
        Finding(
            path,
            f"{SETTINGS_VARIABLE}.node_groups",
            f"github_workflow_environments set but no node group labelled {key}={value}",
        )
    ]


RULES: dict[str, Callable[[TfTree], list[Finding]]] = {
    "open-ingress": checks.check_open_ingress,
    "literal-secrets": checks.check_literal_secrets,
    "skip-reasons": checks.check_skip_reasons,
    "github-trust": checks.check_github_trust,
    "layout": conventions.check_layout,
    "variables": conventions.check_variables,
    "tags": conventions.check_tags,
    "backend": conventions.check_backend,
    "pins": conventions.check_pins,
    "wiring": wiring.check_wiring,
    "environment-sizing": check_environment_sizing,
}


def run_all(tree: TfTree) -> dict[str, list[Finding]]:
    """Run every rule; the result maps rule name to its findings (empty when it holds)."""
    return {name: rule(tree) for name, rule in RULES.items()}
