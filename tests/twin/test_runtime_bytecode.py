"""The pods' runtime writes the bytecode caches of what pods import, once per venv."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from twin.cluster import runtime


def fake_python(tmp_path: Path) -> tuple[Path, Path]:
    """An interpreter stand-in that records its arguments and environment."""
    record = tmp_path / "record.txt"
    script = tmp_path / "python"
    script.write_text(f'#!/bin/sh\n{{ echo "$@"; env; }} > "{record}"\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, record


def test_the_venv_is_warmed_with_bytecode_writing_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    python, record = fake_python(tmp_path)
    runtime.warm_bytecode(python)
    seen = record.read_text(encoding="utf-8")
    assert seen.startswith("-c import pipelines.cli")
    assert "lightgbm" in seen.splitlines()[0]
    assert "PYTHONDONTWRITEBYTECODE" not in seen
    assert os.environ["PYTHONDONTWRITEBYTECODE"] == "1"  # the caller's environment is kept


def test_the_warm_imports_load_every_sentinel_module() -> None:
    """The import line really reaches the sentinel modules (a renamed module would not)."""
    names = [m.removesuffix(".py").replace("/", ".") for m in runtime._WARM_SENTINELS]
    missing = f"print([n for n in {names!r} if n not in sys.modules])"
    check = f"{runtime._WARM_IMPORTS}\nimport sys\n{missing}"
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", check], check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "[]"


def test_bytecode_a_non_root_pod_cannot_read_is_made_readable(tmp_path: Path) -> None:
    """A 0600 ``.pyc`` (an older twin's uv cache) would be compiled again at every pod start."""
    cache = tmp_path / "site" / "pkg" / "__pycache__"
    cache.mkdir(parents=True)
    private, shared = cache / "mod.cpython-311.pyc", cache / "other.cpython-311.pyc"
    for path, mode in ((private, 0o600), (shared, 0o644)):
        path.write_bytes(b"pyc")
        path.chmod(mode)
    source = tmp_path / "site" / "pkg" / "secret.py"
    source.write_text("", encoding="utf-8")
    source.chmod(0o600)  # not bytecode: left as it is

    assert runtime.readable_bytecode(tmp_path / "site") == 1
    assert stat.S_IMODE(private.stat().st_mode) == 0o644
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert stat.S_IMODE(source.stat().st_mode) == 0o600
    assert runtime.readable_bytecode(tmp_path / "site") == 0
