"""What kustomize renders from the promoted unit, and the rendered service container, run."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pipelines.cli import build_parser
from pipelines.delivery.lint.manifest_rules import check_rendered
from pipelines.delivery.lint.runner import render
from pipelines.registry.manifest import read_manifest
from tests.conftest import REPO_ROOT, require_tool
from tests.registry.fixtures import image_for, write
from twin.procs import free_port, http_ok, log_tail, spawn, stop, wait_until

ENVS = ["dev", "staging", "prod"]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    rollout = next(d for d in docs if d["kind"] == "Rollout")
    spec = rollout["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == "strategy")


@pytest.mark.parametrize("env", ENVS)
def test_the_rollout_runs_the_manifest_image_and_listens_on_the_pod_ip(env: str) -> None:
    require_tool("kubectl")
    docs = render(REPO_ROOT / "environments" / env)
    manifest = read_manifest(REPO_ROOT / "environments" / env / "model.yaml")
    strategy = container(docs)
    assert strategy["image"] == manifest["image"]
    assert "ModelManifest" not in {d["kind"] for d in docs}
    # Checked against what uses them: the CLI parser that `pipelines serve` runs.
    args = build_parser().parse_args([*strategy["command"][1:], *strategy["args"]])
    assert args.host is not None and not args.host.startswith("127.")
    mounts = {m["mountPath"]: m for m in strategy["volumeMounts"]}
    assert args.cache_dir in mounts and not mounts[args.cache_dir].get("readOnly")
    assert strategy["securityContext"]["readOnlyRootFilesystem"] is True
    assert [f for f in check_rendered(env, docs, manifest) if f.where.startswith("Rollout")] == []


def test_promotion_changes_the_rendered_image(tmp_path: Path) -> None:
    require_tool("kubectl")
    shutil.copytree(REPO_ROOT / "environments", tmp_path / "environments")
    overlay = tmp_path / "environments" / "prod"
    image = image_for("promoted")
    write(overlay / "model.yaml", "prod", "s3://b/1/r/artifacts/bundle/model_bundle.json", "a" * 64,
          image=image)  # fmt: skip
    docs = render(overlay)
    assert container(docs)["image"] == image
    config = next(d for d in docs if d["kind"] == "ConfigMap" and "model.yaml" in d.get("data", {}))
    assert yaml.safe_load(config["data"]["model.yaml"])["image"] == image


def rendered_argv(env: str, home: Path, port: int, drop_host: bool = False) -> list[str]:
    """The rendered container's command line, with its mount paths mapped into ``home``."""
    strategy = container(render(REPO_ROOT / "environments" / env))
    mapping = {"/etc/model": str(home / "model"), "/var/cache/model": str(home / "cache")}
    argv = [*strategy["command"], *strategy["args"]]
    for index in range(len(argv)):
        for mount, local in mapping.items():
            argv[index] = argv[index].replace(mount, local)
        if argv[index - 1] == "--port":
            argv[index] = str(port)
        elif argv[index - 1] == "--metrics-port":
            # The rendered 9102 on 0.0.0.0 would collide with a twin pod's 127.0.0.x:9102
            # listening in the other pytest worker.
            argv[index] = str(free_port())
    if drop_host:
        at = argv.index("--host")
        del argv[at : at + 2]
    return [
        sys.executable,
        "-m",
        "pipelines",
        "--params",
        str(REPO_ROOT / "params.yaml"),
        *argv[1:],
    ]


@pytest.mark.slow
def test_the_rendered_service_answers_on_a_non_loopback_address(tmp_path: Path) -> None:
    """127.0.0.2 stands for the pod IP: a service bound to 127.0.0.1 only is unreachable there."""
    require_tool("kubectl")
    for drop_host in (False, True):
        home = tmp_path / ("without-host" if drop_host else "rendered")
        (home / "model").mkdir(parents=True)
        (home / "cache").mkdir()
        for name in ("model.yaml", "settings.yaml"):
            shutil.copy(REPO_ROOT / "environments" / "dev" / name, home / "model" / name)
        port = free_port()
        proc = spawn("serve", rendered_argv("dev", home, port, drop_host), log_dir=home, cwd=home)
        try:
            wait_until(
                "serve", http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=60, proc=proc,
                on_fail=lambda h=home: log_tail(h, "serve"),
            )  # fmt: skip
            try:
                reachable = httpx.get(f"http://127.0.0.2:{port}/healthz", timeout=2).is_success
            except httpx.ConnectError:
                reachable = False
            assert reachable is not drop_host
        finally:
            stop(proc.pid)
