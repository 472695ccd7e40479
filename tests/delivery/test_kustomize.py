"""kubectl kustomize of every environment, and what the rendered delivery looks like."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.delivery.canary import canary_steps, instrument_regex, instruments_of
from pipelines.delivery.lint.runner import render
from pipelines.delivery.lint.workflow_rules import check_argo_workflow
from tests.conftest import REPO_ROOT, require_tool


def rollout(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Rollout")


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_each_environment_renders(env: str) -> None:
    require_tool("kubectl")
    docs = render(REPO_ROOT / "environments" / env)
    kinds = {d["kind"] for d in docs}
    assert {"Rollout", "Service", "ConfigMap", "ServiceMonitor"} <= kinds
    # Alert rules live in monitoring/prometheus/rules (loaded once, by Terraform's monitoring).
    assert "PrometheusRule" not in kinds
    assert {d["metadata"]["namespace"] for d in docs} == {f"trading-{env}"}
    spec = rollout(docs)["spec"]
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert yaml.safe_load(config["data"]["model.yaml"])["environment"] == env
    volume = next(v for v in spec["template"]["spec"]["volumes"] if v["name"] == "model")
    assert volume["configMap"]["name"] == config["metadata"]["name"]
    strategy = {"dev": "canary", "staging": "blueGreen", "prod": "canary"}[env]
    assert list(spec["strategy"]) == [strategy]


def test_model_change_makes_a_new_rollout_revision(tmp_path: Path) -> None:
    require_tool("kubectl")
    shutil.copytree(REPO_ROOT / "environments", tmp_path / "environments")
    overlay = tmp_path / "environments" / "prod"
    before = rollout(render(overlay))["spec"]["template"]
    (overlay / "model.yaml").write_text((overlay / "model.yaml").read_text() + "# edited\n")
    after = rollout(render(overlay))["spec"]["template"]
    assert before != after
    assert (
        before["spec"]["volumes"][0]["configMap"]["name"]
        != (after["spec"]["volumes"][0]["configMap"]["name"])
    )


def test_prod_steps_are_generated_from_settings() -> None:
    require_tool("kubectl")
    settings = yaml.safe_load((REPO_ROOT / "environments/prod/settings.yaml").read_text())
    steps = rollout(render(REPO_ROOT / "environments" / "prod"))["spec"]["strategy"]["canary"][
        "steps"
    ]
    assert steps == canary_steps(settings)
    # scale and mirror every instrument, then per group: (scale,) route, analyse
    assert len(steps) == 2 + 3 * len(settings["instrument_groups"]) - 1
    assert list(steps[1]) == ["setMirrorRoute"]
    mirrored = steps[1]["setMirrorRoute"]["match"][0]["headers"]["X-Instrument"]["regex"]
    assert instruments_of(mirrored) == set(settings["instruments"])
    analysed = [
        {a["name"]: a.get("value", a.get("valueFrom")) for a in s["analysis"]["args"]}
        for s in steps
        if "analysis" in s
    ]
    everything = set(settings["instruments"])
    paired = [instruments_of(a["instruments"]) for a in analysed if "instruments" in a]
    assert paired == [
        everything - set(g["instruments"]) for g in settings["instrument_groups"][:-1]
    ]
    assert "instruments" not in analysed[-1]  # 100%: nothing left to pair, service level only
    assert all(a["canary-hash"] == {"podTemplateHashValue": "Latest"} for a in analysed)
    assert all(a["stable-hash"] == {"podTemplateHashValue": "Stable"} for a in analysed[:-1])
    assert [a["window"] for a in analysed] == ["1h", "30m", "30m", "1h"]


def test_instrument_regex_round_trips() -> None:
    names = ["KO", "BRK.B", "PEP"]
    assert instruments_of(instrument_regex(names)) == set(names)
    assert instruments_of("KO|PEP") is None


def test_workflow_references_are_checked() -> None:
    doc = yaml.safe_load((REPO_ROOT / "deploy/argo/deploy.yaml").read_text())
    assert check_argo_workflow("deploy.yaml", doc) == []
    assert doc["spec"]["onExit"] == "exit-handler"
    doc["spec"]["templates"][0]["dag"]["tasks"][2]["depends"] = "checkout && nope"
    doc["spec"]["onExit"] = "missing"
    messages = [str(f) for f in check_argo_workflow("deploy.yaml", doc)]
    assert (
        "deploy.yaml: WorkflowTemplate/deploy: spec.onExit: template 'missing' does not exist"
        in messages
    )
    assert any("unknown task 'nope'" in m for m in messages), messages


def test_analysis_series_carry_the_pod_template_hash() -> None:
    """The template selects `rollouts_pod_template_hash`: the ServiceMonitor must provide it."""
    require_tool("kubectl")
    docs = render(REPO_ROOT / "environments" / "prod")
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    assert "rollouts-pod-template-hash" in monitor["spec"]["podTargetLabels"]
    template = next(d for d in docs if d["kind"] == "AnalysisTemplate")
    queries = [
        m["provider"]["prometheus"]["query"]
        for m in template["spec"]["metrics"]
        if "prometheus" in m["provider"]
    ]
    assert queries and all(
        'rollouts_pod_template_hash="{{args.canary-hash}}"' in q for q in queries
    )
