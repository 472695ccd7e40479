"""The cluster's rules, Alertmanager routing and dashboards are the repository's files, unchanged.

Terraform itself computes what it would install (``terraform console`` on the provider-free
``modules/kubernetes-objects``); the test compares that with the sources, and a copy of the
module that transforms or drops a source must be caught.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.infra import cluster
from pipelines.infra.hcl import load_tree
from pipelines.infra.tfeval import TerraformEvalError, terraform_command
from tests.conftest import REPO_ROOT, require_tool


@pytest.fixture(scope="module")
def prod() -> cluster.ClusterObjects:
    require_tool("terraform", "TERRAFORM_PYTHON")
    return cluster.evaluate(REPO_ROOT, "prod")


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    module = tmp_path / "kubernetes-objects"
    shutil.copytree(REPO_ROOT / cluster.OBJECTS_MODULE, module)
    path = module / "monitoring.tf"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture anchor missing: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return module


def test_monitoring_objects_are_the_sources(prod: cluster.ClusterObjects) -> None:
    assert cluster.monitoring_drift(prod, REPO_ROOT) == []
    rules = yaml.safe_load(prod.outputs["prometheus_rules_yaml"])
    assert sorted(rules) == ["delivery", "health", "pipelines", "strategy", "success"]
    names = [obj["metadata"]["name"] for obj in prod.releases["dashboards"]]
    assert names == [
        "grafana-dashboard-pipeline",
        "grafana-dashboard-system",
        "grafana-dashboard-trading",
    ]


def test_a_dropped_rule_file_is_caught(tmp_path: Path) -> None:
    require_tool("terraform", "TERRAFORM_PYTHON")
    module = broken_copy(tmp_path, '"*.rules.yml"', '"[hps]*.rules.yml"')
    problems = cluster.monitoring_drift(cluster.evaluate(REPO_ROOT, module=module), REPO_ROOT)
    assert problems == ["delivery.rules.yml: not a PrometheusRule of the cluster"]


def test_a_rewritten_dashboard_and_route_are_caught(tmp_path: Path) -> None:
    require_tool("terraform", "TERRAFORM_PYTHON")
    module = broken_copy(
        tmp_path,
        "{ templates = null },",
        '{ templates = null, route = { receiver = "slack-warning" } },',
    )
    path = module / "monitoring.tf"
    read = 'file("${local.dashboards_dir}/${file}")'
    edited = f'replace({read}, "\\"editable\\": false", "\\"editable\\": true")'
    path.write_text(path.read_text(encoding="utf-8").replace(read, edited), encoding="utf-8")
    problems = cluster.monitoring_drift(cluster.evaluate(REPO_ROOT, module=module), REPO_ROOT)
    assert "Alertmanager config: differs from monitoring/alertmanager/alertmanager.yml" in problems
    for name in ("pipeline", "system", "trading"):
        assert f"{name}.json: ConfigMap grafana-dashboard-{name} differs from the file" in problems


def test_the_receivers_secret_is_mounted_where_alertmanager_reads_it() -> None:
    tree = load_tree(REPO_ROOT / "terraform")
    monitoring = cluster._locals(tree, "modules/monitoring")
    assert monitoring["receivers_dir"] == cluster.RECEIVERS_DIR


def test_terraform_errors_name_the_module(tmp_path: Path) -> None:
    require_tool("terraform", "TERRAFORM_PYTHON")
    assert terraform_command()
    module = broken_copy(tmp_path, "local.monitoring_dir", "local.no_such_local")
    with pytest.raises(TerraformEvalError, match="kubernetes-objects"):
        cluster.evaluate(REPO_ROOT, module=module)


def test_remote_write_keeps_every_project_series() -> None:
    import re

    from pipelines.monitoring.metric_names import exported_series_names

    tree = load_tree(REPO_ROOT / "terraform")
    keep = re.compile(str(cluster._locals(tree, "modules/monitoring")["remote_write_keep"]))
    dropped = sorted(
        name
        for name in exported_series_names()
        if not name.startswith("process_") and not keep.fullmatch(name)
    )
    assert dropped == []
    assert keep.fullmatch("up") and not keep.fullmatch("container_cpu_usage_seconds_total")
