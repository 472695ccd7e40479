"""The hashed lock in requirements/ covers what pyproject.toml declares, consistently."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT

LOCK = REPO_ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;\\]+)")
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of a compiled lock file; every pin must carry hashes."""
    result: dict[str, str] = {}
    blocks = re.split(r"\n(?=[A-Za-z0-9])", path.read_text())
    for block in blocks:
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{path.name}: {match.group(1)} has no hash"
            result[canonicalize_name(match.group(1))] = match.group(2)
    return result


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


@pytest.mark.parametrize(
    ("lock", "declared"),
    [
        ("main.txt", PYPROJECT["dependencies"]),
        ("dev.txt", PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]),
        ("serve.txt", PYPROJECT["optional-dependencies"]["serve"]),
    ],
)
def test_every_declared_dependency_is_pinned_with_hashes(lock: str, declared: list[str]) -> None:
    pinned = pins(LOCK / lock)
    missing = sorted(names(declared) - pinned.keys())
    assert not missing, f"requirements/{lock} lacks {missing}: run `make lock`"
    for requirement in map(Requirement, declared):
        version = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (lock, requirement)


def test_the_locks_agree_and_serve_is_a_subset_of_the_default_install() -> None:
    dev, main, serve = (pins(LOCK / f) for f in ("dev.txt", "main.txt", "serve.txt"))
    assert main.keys() <= dev.keys()
    assert serve.keys() <= main.keys()
    for name, version in serve.items():
        assert main[name] == version == dev[name], name
    for name, version in main.items():
        assert dev[name] == version, name
    for heavy in ("mlflow", "dvc", "optuna", "matplotlib", "ccxt", "pip"):
        assert heavy not in serve, f"{heavy} must not be in the service image"


def test_serve_in_and_the_serve_extra_name_the_same_requirements() -> None:
    lines = [
        line.strip()
        for line in (LOCK / "serve.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(map(str, map(Requirement, lines))) == sorted(
        map(str, map(Requirement, PYPROJECT["optional-dependencies"]["serve"]))
    )


def test_uv_and_build_backend_are_pinned_with_hashes() -> None:
    assert "uv" in pins(LOCK / "uv.txt")
    assert "uv-build" in pins(LOCK / "build.txt")
    assert "pip-audit" in pins(LOCK / "audit.txt")
    for side in ("checkov", "evidently", "terraform", "vectorbt"):
        assert pins(LOCK / "side" / f"{side}.txt"), side


def test_the_locked_uv_builds_the_project_itself() -> None:
    """uv skips the build environment only when its own version is in the backend's range.

    Out of range (a uv bump), every ``make setup`` would build in an isolated environment from
    the pinned uv-build again: a second more per CI job, and nothing would say so.
    """
    build = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["build-system"]
    (requirement,) = (Requirement(r) for r in build["requires"])
    assert build["build-backend"] == "uv_build"
    assert canonicalize_name(requirement.name) == "uv-build"
    assert requirement.specifier.contains(pins(LOCK / "uv.txt")["uv"])
    assert requirement.specifier.contains(pins(LOCK / "build.txt")["uv-build"])


def module_file(name: str) -> Path | None:
    base = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def imported_third_party(entries: list[str]) -> dict[str, str]:
    """Top-level third-party imports reachable from ``entries`` -> the module that imports.

    Inside ``pipelines.cli`` only module-level imports count (each command imports its own
    handler lazily); everywhere else every import does, including those inside functions.
    """
    seen: set[str] = set()
    found: dict[str, str] = {}
    stack = list(entries)
    while stack:
        module = stack.pop()
        file = module_file(module)
        if module in seen or file is None:
            continue
        seen.add(module)
        parts = module.split(".")
        stack += [".".join(parts[:i]) for i in range(1, len(parts))]
        tree = ast.parse(file.read_text())
        nodes = ast.iter_child_nodes(tree) if module.startswith("pipelines.cli") else ast.walk(tree)
        for node in nodes:
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == "pipelines":
                    stack.append(target)
                elif target.split(".")[0] not in sys.stdlib_module_names:
                    found.setdefault(target.split(".")[0], module)
    return found


def test_serve_and_analyze_import_only_what_the_serve_lock_installs() -> None:
    entries = [
        "pipelines.__main__",
        "pipelines.cli",
        "pipelines.serving.serve",
        "pipelines.serving.source",
        "pipelines.delivery.analysis",
        "pipelines.delivery.analysis_prom",
    ]
    distributions = packages_distributions()
    serve = pins(LOCK / "serve.txt")
    outside = {
        top: (importer, distributions.get(top))
        for top, importer in imported_third_party(entries).items()
        if not any(canonicalize_name(d) in serve for d in distributions.get(top, []))
    }
    assert not outside, f"imported by serve/analyze but not in requirements/serve.txt: {outside}"
