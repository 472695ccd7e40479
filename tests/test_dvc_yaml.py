"""dvc.yaml and the typed config agree: params keys exist, templates resolve, commands exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.cli import build_parser
from pipelines.config import load_params

TEMPLATE = re.compile(r"\$\{([^}]+)\}")


def _lookup(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


@pytest.fixture(scope="module")
def stages(repo_root: Path) -> dict[str, Any]:
    return yaml.safe_load((repo_root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.fixture(scope="module")
def params_tree(repo_root: Path) -> dict[str, Any]:
    return load_params(repo_root / "params.yaml").model_dump()


def test_every_stage_param_key_is_in_the_typed_config(
    stages: dict[str, Any], params_tree: dict[str, Any]
) -> None:
    missing = []
    for name, stage in stages.items():
        for entry in stage.get("params", []):
            keys = entry if isinstance(entry, str) else None
            if keys is None:
                continue  # {file: [keys]} entries are not used in this project
            try:
                _lookup(params_tree, keys)
            except KeyError:
                missing.append(f"{name}: {keys}")
    assert not missing, f"params keys not in the typed config: {missing}"


def test_every_template_resolves(repo_root: Path, params_tree: dict[str, Any]) -> None:
    text = (repo_root / "dvc.yaml").read_text(encoding="utf-8")
    unresolved = [key for key in TEMPLATE.findall(text) if _try(params_tree, key) is None]
    assert not unresolved, f"dvc.yaml templates with no value in params.yaml: {unresolved}"


def _try(tree: dict[str, Any], key: str) -> Any:
    try:
        return _lookup(tree, key)
    except KeyError:
        return None


def test_every_cmd_is_a_real_pipelines_command(stages: dict[str, Any]) -> None:
    parser = build_parser()
    for name, stage in stages.items():
        commands = stage["cmd"] if isinstance(stage["cmd"], list) else [stage["cmd"]]
        for cmd in commands:
            words = shlex.split(TEMPLATE.sub("X", cmd))
            assert words[:3] == ["python", "-m", "pipelines"], f"{name}: {cmd}"
            try:
                args = parser.parse_args(words[3:])
            except SystemExit as exc:  # argparse exits on unknown commands
                pytest.fail(f"stage {name}: `{cmd}` is not a pipelines command ({exc})")
            assert callable(args.handler), name


def test_stage_deps_that_are_code_exist(repo_root: Path, stages: dict[str, Any]) -> None:
    for name, stage in stages.items():
        for dep in stage.get("deps", []):
            if isinstance(dep, str) and dep.startswith("pipelines/"):
                assert (repo_root / dep).exists(), f"stage {name}: missing dep {dep}"
