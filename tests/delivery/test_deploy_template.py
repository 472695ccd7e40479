"""The deploy WorkflowTemplate checked against what uses it: the CLI and `pipelines deploy`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.cli import build_parser
from pipelines.delivery.deploy import parameters
from tests.conftest import REPO_ROOT
from tests.registry.fixtures import image_for, write

TEMPLATE = yaml.safe_load((REPO_ROOT / "deploy/argo/deploy.yaml").read_text())
SPEC = TEMPLATE["spec"]
VALUES = {
    "workflow.parameters.environment": "dev",
    "workflow.parameters.revision": "a" * 40,
    "workflow.parameters.image": image_for("service"),
    "workflow.parameters.tools-image": image_for("tools"),
    "workflow.name": "deploy-dev-abc12",
    "workflow.status": "Failed",
    "inputs.parameters.address": "10.0.0.7",
}


def substitute(text: str) -> str:
    return re.sub(r"\{\{\s*([^}]+?)\s*\}\}", lambda m: VALUES[m.group(1)], text)


def pipelines_calls() -> list[tuple[str, list[str]]]:
    """Every `pipelines ...` command line the template runs, parameters substituted."""
    templates = {t["name"]: t for t in SPEC["templates"]}
    calls = []
    for template in SPEC["templates"]:
        container = template.get("container") or {}
        if container.get("command") == ["pipelines"]:
            calls.append((template["name"], [substitute(str(a)) for a in container["args"]]))
    for task in templates["deploy"]["dag"]["tasks"]:
        if task["template"] == "pipelines":
            args = task["arguments"]["parameters"][0]["value"]
            calls.append((task["name"], shlex.split(substitute(args))))
    return calls


def test_every_pipelines_step_is_accepted_by_the_cli() -> None:
    calls = pipelines_calls()
    assert {name for name, _ in calls} >= {
        "fetch-and-verify",
        "smoke-serve",
        "smoke-request",
        "record-deployment",
        "dispatch-rollback",
    }
    for name, argv in calls:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"deploy.yaml step {name}: `pipelines {' '.join(argv)}` is refused")
    serve = build_parser().parse_args(dict(calls)["smoke-serve"])
    assert serve.host == "0.0.0.0" and serve.cache_dir.startswith("/workspace/")  # noqa: S104


def test_images_and_the_mutex() -> None:
    templates = {t["name"]: t for t in SPEC["templates"]}

    def image(name: str) -> str:
        body: dict[str, Any] = templates[name].get("container") or templates[name]["script"]
        return str(body["image"])

    # The smoke test runs the very image being deployed; the steps run the tools image.
    assert image("smoke-serve") == "{{workflow.parameters.image}}"
    for name in ("pipelines", "smoke-request", "dispatch-rollback"):
        assert image(name) == "{{workflow.parameters.tools-image}}"
    assert SPEC["synchronization"] == {
        "mutexes": [{"name": "deploy-{{workflow.parameters.environment}}"}]
    }


def test_pipelines_deploy_passes_every_parameter_without_a_default(tmp_path: Path) -> None:
    env = tmp_path / "environments" / "dev"
    write(env / "model.yaml", "dev", "s3://b/1/r/artifacts/bundle/model_bundle.json", "a" * 64)
    given = parameters(tmp_path, "dev", "a" * 40, image_for("tools"))
    declared = SPEC["arguments"]["parameters"]
    required = {p["name"] for p in declared if "value" not in p}
    assert required == set(given) and set(given) <= {p["name"] for p in declared}
