"""``actions/setup-python`` and ``astral-sh/setup-uv`` with this machine's tools.

setup-python puts a per-job virtual environment of the machine's Python 3.11 (``python``,
``python3``, ``python3.11``; ``pip`` bootstraps itself on first use) on PATH, so packages a job
installs never reach the machine's interpreter. setup-uv puts the machine's ``uv`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from twin.github.actions_table import ActionCall, ActionFailed

MACHINE_PYTHON = (
    Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
)
MACHINE_VERSION = ".".join(str(part) for part in sys.version_info[:3])
_PIP = """#!/bin/sh
# pip of the job's setup-python folder (the machine's pip, linked in: no per-job install).
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/python" -m pip "$@"
"""


def _link_pip(folder: Path) -> None:
    """Make the machine's pip importable in the venv (``python -m pip``), as setup-python has it."""
    found = subprocess.run(  # noqa: S603 - the machine's interpreter, fixed arguments
        [str(MACHINE_PYTHON), "-c", "import pip; print(pip.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    source = Path(found.stdout.strip()).parent
    site = folder / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    target = site / "site-packages"
    (target / "pip").symlink_to(source, target_is_directory=True)
    for info in source.parent.glob("pip-*.dist-info"):
        (target / info.name).symlink_to(info, target_is_directory=True)


def _version_ok(wanted: str) -> bool:
    wanted = wanted.strip()
    major_minor = MACHINE_VERSION.rsplit(".", 1)[0]
    return wanted in ("", "3", "3.x", "x", major_minor, f"{major_minor}.x", MACHINE_VERSION)


def setup_python(call: ActionCall) -> None:
    """A Python 3.11 on PATH (``python-version`` / ``python-version-file`` must ask for it)."""
    wanted = call.input("python-version")
    version_file = call.input("python-version-file")
    if not wanted and version_file:
        path = call.job.workspace / version_file
        if not path.is_file():
            raise ActionFailed(f"The specified python version file at: {path} doesn't exist.")
        wanted = path.read_text(encoding="utf-8").strip().splitlines()[0]
    if not _version_ok(wanted):
        raise ActionFailed(
            f"python-version {wanted!r}: the twin's runner image has Python {MACHINE_VERSION} only"
        )
    folder = call.job.tool_dir / "python"
    if not (folder / "bin" / "python").exists():
        subprocess.run(  # noqa: S603 - the machine's interpreter, fixed arguments
            [str(MACHINE_PYTHON), "-m", "venv", "--without-pip", str(folder)],
            check=True,
            capture_output=True,
        )
        _link_pip(folder)
        pip = folder / "bin" / "pip"
        pip.write_text(_PIP, encoding="utf-8")
        pip.chmod(0o755)
        (folder / "bin" / "pip3").symlink_to("pip")
    call.job.add_path(str(folder / "bin"))
    for name in ("pythonLocation", "Python_ROOT_DIR", "Python2_ROOT_DIR", "Python3_ROOT_DIR"):
        call.job.set_env(name, str(folder))
    call.job.set_env("PKG_CONFIG_PATH", str(folder / "lib" / "pkgconfig"))
    call.log(f"Successfully set up CPython ({MACHINE_VERSION}) from {MACHINE_PYTHON}")
    call.outputs.update(
        {
            "python-version": MACHINE_VERSION,
            "python-path": str(folder / "bin" / "python"),
            "cache-hit": "false",
        }
    )


def machine_uv(configured: str | None) -> Path | None:
    """The machine's uv: the twin config's ``runner.tools.uv``, PATH, or beside this Python."""
    for candidate in (configured, shutil.which("uv"), str(Path(sys.prefix) / "bin" / "uv")):
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return Path(candidate)
    return None


def setup_uv(call: ActionCall) -> None:
    """The machine's uv on PATH."""
    uv = machine_uv(call.job.twin.config["runner"]["tools"].get("uv"))
    if uv is None:
        raise ActionFailed(
            "astral-sh/setup-uv: uv is not installed on the twin machine (set runner.tools.uv)"
        )
    version = call.run([str(uv), "--version"], quiet=True).split()[1]
    wanted = call.input("version", "latest")
    if wanted not in ("latest", "") and not version.startswith(
        wanted.lstrip("=v").rstrip(".x*").rstrip(".")
    ):
        raise ActionFailed(
            f"astral-sh/setup-uv: version {wanted} requested, the twin machine has uv {version}"
        )
    if call.flag("activate-environment", False):
        raise ActionFailed("astral-sh/setup-uv: activate-environment is not supported by the twin")
    folder = call.job.tool_dir / "uv"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "uv"
    if not link.exists():
        link.symlink_to(uv)
        if (uv.parent / "uvx").exists():
            (folder / "uvx").symlink_to(uv.parent / "uvx")
    call.job.add_path(str(folder))
    if call.input("python-version"):
        call.job.set_env("UV_PYTHON", call.input("python-version"))
    call.log(f"uv {version} from {uv}")
    call.outputs.update({"uv-version": version, "uv-path": str(link), "cache-hit": "false"})
