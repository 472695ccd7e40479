"""checkov passes on terraform/ with reasoned skips only, and fails on a public bucket."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "checkov"


def _checkov(directory: Path) -> dict[str, Any]:
    checkov = require_tool("checkov", "CHECKOV")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    proc = subprocess.run(
        [
            checkov,
            "--skip-download",
            "--framework",
            "terraform",
            "--compact",
            "-o",
            "json",
            "-d",
            str(directory),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    # checkov exits 1 when a check fails; anything else non-zero is a crash.
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    (terraform,) = [r for r in reports if r.get("check_type") == "terraform"]
    return terraform


@pytest.fixture(scope="module")
def real_report() -> dict[str, Any]:
    return _checkov(REPO_ROOT / "terraform")


@pytest.fixture(scope="module")
def fixture_report() -> dict[str, Any]:
    return _checkov(FIXTURES)


def test_no_failed_check(real_report: dict[str, Any]) -> None:
    summary = real_report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}"
        for c in real_report["results"]["failed_checks"]
    ]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100
    assert failed == []


def test_checkov_sees_through_the_platform_module(real_report: dict[str, Any]) -> None:
    # checkov can silently stop rendering nested modules (it then checks less, not fail more):
    # every module must be reached, and the for_each roles of identity expanded.
    checked = {
        c["resource"]
        for kind in ("passed_checks", "skipped_checks")
        for c in real_report["results"][kind]
    }
    modules = ("network", "storage", "compute", "monitoring", "argo", "identity", "cluster_base")
    for module in modules:
        prefix = f"module.platform.module.{module}."
        assert any(r.startswith(prefix) for r in checked), module
    github_roles = {r for r in checked if "identity.aws_iam_role.github[" in r}
    assert github_roles, "the GitHub OIDC roles were not checked"
    # Their for_each comes from kubernetes-objects, which checkov cannot evaluate: checked once.
    workload_roles = {r for r in checked if "argo.aws_iam_role_policy.workload" in r}
    assert workload_roles, "the workloads' pod identity policies were not checked"


def test_every_skip_has_a_reason(real_report: dict[str, Any]) -> None:
    for check in real_report["results"]["skipped_checks"]:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) >= 15, f"{check['check_id']} on {check['resource']} has no reason"


def test_public_bucket_fixture_fails(fixture_report: dict[str, Any]) -> None:
    failed = {c["check_id"] for c in fixture_report["results"]["failed_checks"]}
    # public-read ACL, public access block off, and the block missing its four settings
    assert {"CKV_AWS_20", "CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"} <= failed
