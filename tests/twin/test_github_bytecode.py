"""Bytecode a job compiled is kept in the runner's uv cache; the next venv imports it as is."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from twin.github import bytecode
from twin.github.actions_setup import machine_uv
from twin.repo_settings import runner_tools

SOURCE = "def answer() -> int:\n    return 42\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def tiny_wheel(folder: Path) -> Path:
    """``tinypkg 1.0``: one module, as a wheel uv installs offline."""
    files = {
        "tinypkg/__init__.py": SOURCE.encode(),
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [_record_line(name, data) for name, data in files.items()]
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    files["tinypkg-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def venv_with(tmp_path: Path, name: str, wheel: Path, cache: Path) -> Path:
    uv = machine_uv(runner_tools().get("uv"))
    assert uv, "no uv: make setup bootstraps .tools/uv"
    env = {**os.environ, "UV_CACHE_DIR": str(cache), "UV_PYTHON_DOWNLOADS": "never"}
    venv = tmp_path / name
    for argv in (
        [uv, "venv", "--quiet", "--python", "python3.11", str(venv)],
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--offline",
            "--python",
            str(venv / "bin" / "python"),
            str(wheel),
        ],
    ):
        subprocess.run(argv, env=env, check=True, capture_output=True)  # noqa: S603
    return venv


def import_verbose(venv: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(  # noqa: S603 - the test's own venv
        [str(venv / "bin" / "python"), "-v", "-c", "import tinypkg; print(tinypkg.answer())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "42"
    return done.stderr


def pyc_of(venv: Path) -> Path:
    (site,) = venv.glob("lib/python3.*/site-packages")
    (pyc,) = (site / "tinypkg" / "__pycache__").glob("__init__.*.pyc")
    return pyc


def test_a_job_compiles_once_and_the_next_venv_imports_the_kept_bytecode(tmp_path: Path) -> None:
    cache, wheel = tmp_path / "uv-cache", tiny_wheel(tmp_path)
    first = venv_with(tmp_path, "job-1", wheel, cache)
    log = import_verbose(first)  # compiled in the first job's venv, its bytecode written there
    assert f"# created '{pyc_of(first)}'" in log
    assert bytecode.harvest(first, cache) == 1
    assert bytecode.harvest(first, cache) == 0  # kept already
    (kept,) = (cache / bytecode.ARCHIVE).glob("*/tinypkg/__pycache__/__init__.*.pyc")
    assert kept.read_bytes() == pyc_of(first).read_bytes()
    assert kept.stat().st_mode & 0o777 == 0o644  # venvs link it; non-root pods read it

    second = venv_with(tmp_path, "job-2", wheel, cache)
    assert pyc_of(second).stat().st_ino == kept.stat().st_ino  # linked in by uv
    log = import_verbose(second)
    assert f"# {pyc_of(second)} matches " in log
    assert "# created '" not in log
    assert bytecode.harvest(second, cache) == 0


def test_bytecode_of_sources_not_from_the_cache_is_not_kept(tmp_path: Path) -> None:
    cache, wheel = tmp_path / "uv-cache", tiny_wheel(tmp_path)
    venv = venv_with(tmp_path, "job", wheel, cache)
    (site,) = venv.glob("lib/python3.*/site-packages")
    own = site / "tinypkg" / "__init__.py"
    own.unlink()
    own.write_text(SOURCE, encoding="utf-8")  # an edited copy: no longer the cache's file
    import_verbose(venv)
    assert bytecode.harvest(venv, cache) == 0
    assert not list((cache / bytecode.ARCHIVE).glob("*/tinypkg/__pycache__"))


@pytest.mark.parametrize("layout", ["no cache", "no venv"])
def test_nothing_to_harvest_is_zero(tmp_path: Path, layout: str) -> None:
    venv, cache = tmp_path / "venv", tmp_path / "cache"
    (cache if layout == "no venv" else venv / "lib/python3.11/site-packages").mkdir(parents=True)
    assert bytecode.harvest(venv, cache) == 0
