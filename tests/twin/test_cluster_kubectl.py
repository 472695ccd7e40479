"""The kubectl and kubectl-argo-rollouts shims against the cluster's API (run as processes)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from starlette.applications import Starlette

from tests.conftest import require_tool
from tests.twin.cluster_support import REPO_ROOT, SHARED, Cluster
from twin.cluster.api_kube import KubeApi
from twin.cluster.bootstrap import CRDS
from twin.cluster.kinds import crd_object

pytestmark = pytest.mark.slow

SHIMS = REPO_ROOT / "twin" / "cluster" / "shims"
CONFIG = """
apiVersion: v1
kind: Namespace
metadata: {name: trading-dev}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: trading-dev, annotations: {kubernetes.io/owner: ml}}
data: {replicas: "2"}
"""
ROLLOUT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "svc", "namespace": "trading-dev"},
    "spec": {
        "selector": {"matchLabels": {"app": "svc"}},
        "template": {"metadata": {"labels": {"app": "svc"}}, "spec": {"containers": []}},
        "strategy": {"canary": {"steps": [{"pause": {}}]}},
    },
}


class Shell:
    def __init__(self, kube_url: str, cwd: Path) -> None:
        self.env = {
            **os.environ,
            "TWIN_KUBE_URL": kube_url,
            "PATH": f"{SHIMS}:{os.environ['PATH']}",
        }
        self.cwd = cwd

    def __call__(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            input=stdin,
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def shell(cluster: Cluster, tmp_path: Path) -> Shell:
    api = KubeApi(cluster.store, SHARED if SHARED.is_dir() else None)
    url = cluster.serve(Starlette(routes=api.routes()))
    return Shell(f"{url}/kube", tmp_path)


def test_apply_get_delete_round_trip(shell: Shell, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    applied = shell("kubectl", "apply", "--server-side", "-f", "config.yaml")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.split("\n")[:2] == [
        "namespace/trading-dev serverside-applied",
        "configmap/settings serverside-applied",
    ]
    got = shell(
        "kubectl",
        "-n",
        "trading-dev",
        "get",
        "cm",
        "settings",
        "-o",
        "jsonpath={.data.replicas} {.metadata.annotations.kubernetes\\.io/owner}",
    )
    assert (got.returncode, got.stdout.strip()) == (0, "2 ml")
    as_yaml = yaml.safe_load(
        shell("kubectl", "get", "configmap", "settings", "-n", "trading-dev", "-o", "yaml").stdout
    )
    assert as_yaml["data"] == {"replicas": "2"} and as_yaml["metadata"]["uid"]
    missing = shell("kubectl", "get", "namespace", "trading-prod")
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        == 'Error from server (NotFound): namespaces "trading-prod" not found'
    )
    deleted = shell("kubectl", "delete", "configmap", "settings", "-n", "trading-dev")
    assert (
        deleted.returncode == 0
        and shell("kubectl", "get", "cm", "settings", "-n", "trading-dev").returncode == 1
    )


def test_kinds_are_served_only_once_their_crd_is_installed(shell: Shell, cluster: Cluster) -> None:
    cluster.namespace("trading-dev")
    document = yaml.safe_dump(ROLLOUT)
    refused = shell(
        "kubectl", "apply", "--server-side", "--validate=strict", "-f", "-", stdin=document
    )
    assert refused.returncode == 1
    assert 'no matches for kind "Rollout" in version "argoproj.io/v1alpha1"' in refused.stderr
    assert shell("kubectl", "get", "crd", "rollouts.argoproj.io").returncode == 1
    for kind in CRDS:
        cluster.store.apply(crd_object(kind))
    listed = shell(
        "kubectl", "get", "crd", "rollouts.argoproj.io", "virtualservices.networking.istio.io"
    )
    assert listed.returncode == 0 and "virtualservices.networking.istio.io" in listed.stdout
    applied = shell(
        "kubectl", "apply", "--server-side", "--validate=strict", "-f", "-", stdin=document
    )
    assert applied.stdout.strip() == "rollout.argoproj.io/svc serverside-applied", applied.stderr
    assert shell(
        "kubectl", "get", "ro", "svc", "-n", "trading-dev", "-o", "name"
    ).stdout.strip() == ("rollout.argoproj.io/svc")


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/schemas is needed for strict validation")
def test_strict_validation_rejects_an_unknown_rollout_field(shell: Shell, cluster: Cluster) -> None:
    cluster.namespace("trading-dev")
    for kind in CRDS:
        cluster.store.apply(crd_object(kind))
    bad = {**ROLLOUT, "spec": {**ROLLOUT["spec"], "replica": 3}}
    refused = shell(
        "kubectl",
        "apply",
        "--server-side",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump(bad),
    )
    assert refused.returncode == 1
    assert "strict decoding error" in refused.stderr and "replica" in refused.stderr


def test_unknown_verbs_and_flags_fail_with_one_line(shell: Shell) -> None:
    cases = {
        ("kubectl", "rollout", "restart", "x"): "kubectl rollout: not implemented by the twin",
        ("kubectl", "get", "pods", "--watch-only"): "unknown flag: --watch-only",
        ("kubectl-argo-rollouts", "undo", "svc"): 'Error: unknown command "undo"',
    }
    for argv, expected in cases.items():
        result = shell(*argv)
        assert result.returncode == 1
        assert len(result.stderr.strip().splitlines()) == 1
        assert expected in result.stderr


def test_kustomize_runs_the_real_kubectl(shell: Shell) -> None:
    require_tool("kubectl")
    rendered = shell("kubectl", "kustomize", str(REPO_ROOT / "environments" / "dev"))
    assert rendered.returncode == 0, rendered.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d}
    assert "Rollout" in kinds


def test_rollouts_status_promote_and_abort(shell: Shell, cluster: Cluster) -> None:
    cluster.namespace("trading-dev")
    for kind in CRDS:
        cluster.store.apply(crd_object(kind))
    cluster.store.apply(ROLLOUT)
    waiting = shell(
        "kubectl-argo-rollouts", "status", "svc", "-n", "trading-dev", "--timeout", "1s"
    )
    assert (
        waiting.returncode == 1
        and waiting.stderr.strip() == "Error: Rollout status watch exceeded timeout"
    )
    cluster.store.update_status(
        "Rollout",
        "trading-dev",
        "svc",
        {
            "phase": "Paused",
            "message": "CanaryPauseStep",
            "pauseConditions": [{"reason": "CanaryPauseStep"}],
        },
    )
    promoted = shell("kubectl", "argo", "rollouts", "promote", "svc", "-n", "trading-dev")
    assert promoted.stdout.strip() == "rollout 'svc' promoted"
    status = cluster.store.get("Rollout", "trading-dev", "svc")["status"]  # type: ignore[index]
    assert "pauseConditions" not in status and status["controllerPause"] is False
    aborted = shell("kubectl-argo-rollouts", "abort", "svc", "-n", "trading-dev")
    assert aborted.returncode == 0
    assert cluster.store.get("Rollout", "trading-dev", "svc")["status"]["abort"] is True  # type: ignore[index]
    message = (
        'RolloutAborted: Rollout aborted update to revision 2: Metric "error-rate" assessed Failed'
    )
    cluster.store.update_status(
        "Rollout", "trading-dev", "svc", {"phase": "Degraded", "message": message}
    )
    degraded = shell(
        "kubectl-argo-rollouts", "status", "svc", "-n", "trading-dev", "--timeout", "100m"
    )
    assert degraded.returncode == 1
    assert (
        degraded.stderr.strip()
        == f"Error: The rollout is in a degraded state with message: {message}"
    )
    cluster.store.update_status("Rollout", "trading-dev", "svc", {"phase": "Healthy"})
    healthy = shell(
        "kubectl-argo-rollouts", "status", "svc", "--namespace", "trading-dev", "--timeout", "100m"
    )
    assert (healthy.returncode, healthy.stdout.strip()) == (0, "Healthy")


def test_create_a_workflow_and_read_its_phase_as_pipelines_deploy_does(
    shell: Shell, cluster: Cluster
) -> None:
    for kind in CRDS:
        cluster.store.apply(crd_object(kind))
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "deploy-dev-"},
        "spec": {"workflowTemplateRef": {"name": "deploy"}},
    }
    created = shell(
        "kubectl",
        "create",
        "-n",
        "argo",
        "-o",
        "jsonpath={.metadata.name}",
        "-f",
        "-",
        stdin=yaml.safe_dump(workflow),
    )
    assert created.returncode == 0, created.stderr
    name = created.stdout.strip()
    assert name.startswith("deploy-dev-") and len(name) == len("deploy-dev-") + 5
    phase = shell(
        "kubectl", "get", "workflow", name, "-n", "argo", "-o", "jsonpath={.status.phase}"
    )
    assert (phase.returncode, phase.stdout.strip()) == (0, "")
    cluster.store.update_status("Workflow", "argo", name, {"phase": "Succeeded"})
    phase = shell("kubectl", "get", "wf", name, "-n", "argo", "-o", "jsonpath={.status.phase}")
    assert phase.stdout.strip() == "Succeeded"
