"""The twin's container registry: images from a Dockerfile's COPY lines, by digest."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.twin.cluster_support import IMAGE_DIR, REPO_ROOT
from twin import registry
from twin.errors import TwinError


@pytest.fixture
def context(tmp_path: Path) -> Path:
    target = tmp_path / "context"
    shutil.copytree(IMAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_digest_is_deterministic_and_follows_the_copied_files(
    context: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    first = registry.build(context, context / "Dockerfile", None, home=home)
    assert first.startswith("sha256:") and len(first) == 71
    (context / "notes.txt").write_text("not copied: the digest must not change")
    assert registry.build(context, context / "Dockerfile", None, home=home) == first
    (context / "greeting.txt").write_text("changed")
    assert registry.build(context, context / "Dockerfile", None, home=home) != first


def test_image_tree_and_config(context: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (context / "podapp" / "__pycache__").mkdir()
    (context / "podapp" / "__pycache__" / "x.pyc").write_bytes(b"x")  # excluded by **/__pycache__
    (context / "extra").mkdir()
    (context / "extra" / "notes.txt").write_text("x")  # excluded by ** and not re-included
    digest = registry.build(context, context / "Dockerfile", None, home=home)
    tree = registry.materialise(digest, home=home)
    files = sorted(
        p.relative_to(tree / "rootfs").as_posix()
        for p in (tree / "rootfs").rglob("*")
        if p.is_file() and p.parent.name != "__pycache__"
    )
    assert files == [
        "app/greeting.txt",
        "src/podapp/__init__.py",
        "src/podapp/__main__.py",
        "src/pyproject.toml",
    ]
    # The context's stray bytecode is not copied; the image's own is compiled, as at build.
    cached = sorted(p.name for p in (tree / "rootfs").rglob("__pycache__/*"))
    tag = sys.implementation.cache_tag
    assert cached == [f"__init__.{tag}.pyc", f"__main__.{tag}.pyc"]
    config = json.loads((tree / "config.json").read_text())
    assert config["workdir"] == "/app" and config["user"] == "10001:10001"
    assert config["entrypoint"] == ["python", "-m", "podapp"]
    assert config["python_paths"] == ["/src"] and config["runtime_paths"] == ["/opt/venv"]


def test_tags_and_digests_resolve_only_once_pushed(context: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    digest = registry.build(context, context / "Dockerfile", None, home=home)
    assert registry.resolve("ghcr.io/x/app:main", home=home) is None
    assert registry.push("ghcr.io/x/app:main", digest, home=home) == f"ghcr.io/x/app@{digest}"
    assert registry.resolve("ghcr.io/x/app:main", home=home) == digest
    assert registry.resolve(f"ghcr.io/x/app@{digest}", home=home) == digest
    assert registry.resolve(f"ghcr.io/other/app@{digest}", home=home) is None
    with pytest.raises(TwinError, match="not in the twin's registry"):
        registry.push("ghcr.io/x/app:v2", "sha256:" + "0" * 64, home=home)


def test_missing_copy_source_and_unknown_target_fail_naming_them(
    context: Path, tmp_path: Path
) -> None:
    (context / "greeting.txt").unlink()
    with pytest.raises(TwinError, match=r"COPY greeting.txt: \"/greeting.txt\" not found"):
        registry.build(context, context / "Dockerfile", None, home=tmp_path)
    with pytest.raises(TwinError, match="target stage 'tools' not found"):
        registry.build(context, context / "Dockerfile", "tools", home=tmp_path)


def test_the_project_dockerfile_builds(tmp_path: Path) -> None:
    digest = registry.build(REPO_ROOT, REPO_ROOT / "Dockerfile", None, home=tmp_path)
    config = registry.image_config(digest, home=tmp_path)
    tree = registry.materialise(digest, home=tmp_path) / "rootfs"
    assert (tree / config["python_paths"][0].lstrip("/") / "pipelines" / "__init__.py").exists()
    assert (tree / config["workdir"].lstrip("/") / "params.yaml").exists()
    # Every module of the image has its bytecode (the container never writes any).
    sources = list((tree / config["python_paths"][0].lstrip("/")).rglob("*.py"))
    missing = [s for s in sources if not Path(importlib.util.cache_from_source(str(s))).exists()]
    assert sources and missing == []


def test_the_service_image_runs_with_its_own_lock_s_packages_only(tmp_path: Path) -> None:
    """The service image syncs requirements/serve.txt: its pods see those packages and no more."""
    from twin.cluster.runtime import ensure_view
    from twin.registry_dockerfile import image_plan

    _, serve = image_plan(REPO_ROOT, REPO_ROOT / "Dockerfile", "serve")
    _, tools = image_plan(REPO_ROOT, REPO_ROOT / "Dockerfile", "tools")
    assert {"lightgbm", "boto3", "uvicorn", "pipelines"} <= set(serve["packages"])
    assert not {"scikit-learn", "mlflow", "dvc", "pytest"} & set(serve["packages"])
    assert {"mlflow", "dvc", "scikit-learn", "pipelines"} <= set(tools["packages"])
    assert "pytest" not in tools["packages"]  # the dev lock's tools are not in the image

    view = ensure_view(tmp_path, serve["packages"])
    assert ensure_view(tmp_path, serve["packages"]) == view  # made once
    script = (
        "import importlib.util as u, sys, lightgbm, pipelines.serving.serve\n"
        "print(u.find_spec('sklearn') is None, u.find_spec('mlflow') is None,\n"
        "      'sklearn' in sys.modules, 'scipy.stats' in sys.modules)\n"
    )
    done = subprocess.run(
        [str(view / "bin" / "python"), "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Not installed in the image, so not importable here; LightGBM loads without them.
    assert done.stdout.split() == ["True", "True", "False", "False"]
    assert (view / "bin" / "pipelines").exists() and not (view / "bin" / "mlflow").exists()

    with pytest.raises(TwinError, match="not-a-package not installed in the twin's venv"):
        ensure_view(tmp_path, ["lightgbm", "not-a-package"])
