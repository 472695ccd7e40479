"""The pods' Python runtime: the twin's venv, reachable by a pod's non-root user.

A project image's RUN lines install the locked dependencies into a venv; the twin does not
rebuild them, it reuses its own venv (the same lock). That venv's interpreter may live where a
non-root uid cannot reach it (pyenv under ``/root``), so the runtime is a small venv at
``<home>/cluster/runtime`` made from a system interpreter of the same minor version that every
user can execute, whose site-packages loads the twin venv's site-packages (``.pth``) and whose
``bin/`` holds the twin venv's console scripts with their shebang pointed at it.

An image built from a narrower lock (the service image: ``requirements/serve.txt``) gets a view
(``ensure_view``): the same kind of small venv whose site-packages is a folder of links to only
that lock's distributions in the twin venv. Its pods import what the image has and nothing more:
a module the image lacks fails as it would in the image, and LightGBM does not load
scikit-learn and SciPy's statistics (the dev lock has them), which cost every pod start seconds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

from packaging.utils import canonicalize_name

from pipelines.io import atomic
from twin.errors import TwinError

HERE = Path(__file__).resolve().parent
# Bump to rebuild existing runtimes when their layout changes (5: bytecode made readable).
RUNTIME_LAYOUT = "5"
# Modules that pods import (serve, verify-artifact, smoke, registry-alias, dispatch-rollback).
_WARM_IMPORTS = (
    "import pipelines.cli, pipelines.serving.serve, pipelines.serving.app, "
    "pipelines.registry.bundle, pipelines.registry.mlflow_log, lightgbm, mlflow.tracking, boto3"
)
# Modules the import line above must reach (a test checks it, so a rename cannot go unseen).
_WARM_SENTINELS = ("lightgbm/basic.py", "mlflow/tracking/client.py", "pandas/core/frame.py")
_SKIP = re.compile(r"^(python[0-9.]*|pip[0-9.]*|activate.*|Activate.*)$")


def world_reachable(path: Path) -> bool:
    """Whether every user can reach ``path`` (each parent folder searchable by others)."""
    resolved = path.resolve()
    for parent in [resolved, *resolved.parents]:
        mode = parent.stat().st_mode
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return False
    return bool(resolved.stat().st_mode & stat.S_IROTH)


def _system_python() -> Path | None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    for candidate in (
        base,
        Path(f"/usr/bin/python{version}"),
        Path(f"/usr/local/bin/python{version}"),
    ):
        if candidate.exists() and world_reachable(candidate):
            return candidate
    return None


def ensure_support(home: Path) -> Path:
    """Copy the shims and the pod network module under ``<home>/cluster/runtime``; return it.

    Pods reach them there (a non-root pod user may not reach the checkout).
    """
    root = home / "cluster" / "runtime"
    for name in ("shims", "podnet"):
        target = root / name
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted((HERE / name).iterdir()):
            if source.name == "__pycache__":
                continue
            dest = target / source.name
            if source.is_symlink():
                if not dest.is_symlink():
                    dest.unlink(missing_ok=True)
                    dest.symlink_to(source.readlink())
            elif not dest.exists() or dest.read_bytes() != source.read_bytes():
                atomic.write_bytes(dest, source.read_bytes())
                dest.chmod(source.stat().st_mode & 0o777)
    return root


def ensure_runtime(home: Path) -> Path:
    """Create (once) the runtime venv; return its folder (``bin/``, ``shims/``, ``podnet/``).

    Raises:
        TwinError: No interpreter of this minor version that every user can run.
    """
    root = home / "cluster" / "runtime"
    marker = root / ".ready"
    site_packages = Path(sysconfig.get_paths()["purelib"])
    stamp = f"{RUNTIME_LAYOUT} {site_packages}"
    if not (marker.exists() and marker.read_text().strip() == stamp):
        python = _system_python()
        if python is None:
            raise TwinError(
                f"pod runtime: no python{sys.version_info.major}.{sys.version_info.minor} that "
                "every user can execute (install the Debian python3 package)"
            )
        shutil.rmtree(root / "bin", ignore_errors=True)
        shutil.rmtree(root / "lib", ignore_errors=True)
        cmd = [str(python), "-m", "venv", "--without-pip", str(root)]
        subprocess.run(cmd, check=True)  # noqa: S603
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        pth = root / "lib" / version / "site-packages" / "_twin_runtime.pth"
        pth.write_text(f"import site; site.addsitedir({str(site_packages)!r})\n", encoding="utf-8")
        _copy_scripts(Path(sys.prefix) / "bin", root / "bin")
        warm_bytecode(root / "bin" / "python")
        readable_bytecode(site_packages)
        atomic.write_text(marker, f"{stamp}\n")
    ensure_support(home)
    return root


def ensure_view(home: Path, packages: list[str]) -> Path:
    """A runtime whose site-packages links only ``packages`` of the twin venv; its folder.

    Made once per set of packages, under ``<home>/cluster/runtime-views/<key>``.

    Raises:
        TwinError: A package of the set that the twin venv does not have (the image would
            have it: the twin's venv is not synced from the same lock).
    """
    wanted = sorted(set(packages))
    key = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:16]
    root = home / "cluster" / "runtime-views" / key
    marker = root / ".ready"
    site_packages = Path(sysconfig.get_paths()["purelib"])
    stamp = f"{RUNTIME_LAYOUT} {site_packages}"
    if marker.exists() and marker.read_text().strip() == stamp:
        return root
    python = _system_python()
    if python is None:
        raise TwinError("pod runtime: no python that every user can execute")
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(root)], check=True)  # noqa: S603
    view = root / "site"
    view.mkdir()
    found, scripts = _link_distributions(site_packages, set(wanted), view)
    missing = sorted(set(wanted) - found)
    if missing:
        raise TwinError(
            f"image runtime: {', '.join(missing)} not installed in the twin's venv "
            "(run make setup: the venv and the image lock must agree)"
        )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    pth = root / "lib" / version / "site-packages" / "_twin_view.pth"
    pth.write_text(f"import site; site.addsitedir({str(view)!r})\n", encoding="utf-8")
    _copy_scripts(Path(sys.prefix) / "bin", root / "bin", only=scripts)
    # The linked packages share the twin venv's bytecode; the view's own top-level modules
    # (single files linked into it) get theirs here.
    _warm_modules(root / "bin" / "python", sorted(p.stem for p in view.glob("*.py")))
    atomic.write_text(marker, f"{stamp}\n")
    return root


def _link_distributions(site: Path, wanted: set[str], view: Path) -> tuple[set[str], set[str]]:
    """Link every top-level entry of the ``wanted`` distributions into ``view``.

    Returns the distributions found and the names of their console scripts.
    """
    found: set[str] = set()
    scripts: set[str] = set()
    for dist in importlib.metadata.distributions(path=[str(site)]):
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name not in wanted:
            continue
        found.add(name)
        scripts.update(e.name for e in dist.entry_points if e.group == "console_scripts")
        tops = {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] != ".."}
        for top in sorted(tops):
            source, link = site / top, view / top
            if source.exists() and not link.exists():
                link.symlink_to(source)
    return found, scripts


def _warm_modules(python: Path, modules: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = "\n".join(
        [
            "import importlib",
            f"for name in {modules!r}:",
            "    try:",
            "        importlib.import_module(name)",
            "    except Exception:",  # a module the view cannot import is the pod's to report
            "        pass",
        ]
    )
    subprocess.run([str(python), "-c", code], env=env, check=False, capture_output=True)  # noqa: S603


def warm_bytecode(python: Path) -> None:
    """Write the bytecode caches of what pods import (those still missing).

    Called when the runtime is made (not at each pod start), so a venv whose imports fail is
    not tried again for every pod.

    A project image compiles its bytecode at build (the Dockerfile's ``UV_COMPILE_BYTECODE``)
    and its pods never write any (``PYTHONDONTWRITEBYTECODE``, read-only root). The twin's pods
    share the twin's venv instead, so without this every pod start compiled pandas, MLflow and
    LightGBM from source again. Importing the pod entry points once writes what they need; it
    always runs (about 3 s when all is compiled): the venv may hold some packages' bytecode
    and not others' (the runner's uv cache keeps what jobs compiled, ``twin.github.bytecode``),
    so no file can stand for all of it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(  # noqa: S603 - the runtime's own interpreter, fixed arguments
        [str(python), "-c", _WARM_IMPORTS], env=env, check=False, capture_output=True
    )


def readable_bytecode(site: Path) -> int:
    """Make every ``.pyc`` under ``site`` readable by others; how many were not.

    The pods run as their image's non-root user on the twin's venv. A bytecode file it cannot
    read is compiled again from source at every start, silently (a service pod 2.6 s to ready
    instead of 1.5 s): uv hardlinks into new venvs whatever its cache holds, and older twins
    kept job bytecode there as 0600 files (``twin.github.bytecode``).
    """
    fixed = 0
    for folder, _, files in os.walk(site):
        if not folder.endswith("__pycache__"):
            continue
        for name in files:
            path = Path(folder) / name
            mode = path.stat().st_mode
            if name.endswith(".pyc") and not mode & stat.S_IROTH:
                path.chmod(stat.S_IMODE(mode) | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                fixed += 1
    return fixed


def unreachable(home: Path) -> str | None:
    """The first folder a non-root pod user needs but cannot reach (None: all reachable)."""
    root = home / "cluster" / "runtime"
    needed = [root, root / "bin" / "python", Path(sysconfig.get_paths()["purelib"])]
    for path in needed:
        if path.exists() and not world_reachable(path):
            return str(path)
    return None


def _copy_scripts(source: Path, target: Path, only: set[str] | None = None) -> None:
    interpreter = f"#!{target / 'python'}\n"
    for script in sorted(source.iterdir()):
        if _SKIP.match(script.name) or not script.is_file():
            continue
        if only is not None and script.name not in only:
            continue
        with script.open("rb") as handle:
            first = handle.readline()
        if not first.startswith(b"#!") or b"python" not in first:
            continue
        body = script.read_bytes()[len(first) :]
        out = target / script.name
        out.write_bytes(interpreter.encode() + body)
        out.chmod(0o755)  # noqa: S103 - executables every pod user must run
