"""The runner's uv cache is filled for the interpreter the jobs' ``make setup`` finds."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from twin.errors import TwinError
from twin.github import runner_cache

# Answers as the real uv does. A lock holding "missing" has a wheel the cache lacks (the dry
# run would download it); one holding "broken" cannot be fetched online either.
FAKE_UV = """#!/bin/sh
echo "$@" >> "{log}"
prev=""; for arg; do [ "$prev" = "-r" ] && lock="$arg"; prev="$arg"; done
case "$*" in
  *--dry-run*)
    if grep -q missing "$lock"; then echo "Would download 1 package"; fi
    echo "Would install 1 package" ;;
  *)
    if grep -q broken "$lock"; then echo "error: network unreachable" >&2; exit 2; fi ;;
esac
"""


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def locks(tmp_path: Path, contents: dict[str, str]) -> tuple[Path, Path]:
    """A source tree with every lock the jobs sync (``pkg==1`` unless given) and a fake uv."""
    source = tmp_path / "src"
    for lock in runner_cache.LOCKS:
        (source / lock).parent.mkdir(parents=True, exist_ok=True)
        (source / lock).write_text(contents.get(lock, "pkg==1\n"), encoding="utf-8")
    return source, executable(tmp_path / "uv", FAKE_UV.format(log=tmp_path / "uv.log"))


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "uv.log").read_text(encoding="utf-8").splitlines()


def test_the_jobs_interpreter_is_the_first_python311_on_the_runner_path(tmp_path: Path) -> None:
    first = executable(tmp_path / "a" / "python3.11", "#!/bin/sh\n")
    executable(tmp_path / "b" / "python3.11", "#!/bin/sh\n")
    path = f"{tmp_path / 'none'}:{first.parent}:{tmp_path / 'b'}"
    assert runner_cache.job_python(path) == str(first)
    assert runner_cache.job_python(str(tmp_path / "none")) is None


def test_only_a_lock_with_a_wheel_missing_is_installed_from_the_index(tmp_path: Path) -> None:
    checkov = "requirements/side/checkov.txt"
    source, uv = locks(tmp_path, {checkov: "missing==2.10 ; python_full_version < '3.11.5'\n"})
    env = {"UV_CACHE_DIR": str(tmp_path / "cache"), "UV_OFFLINE": "1"}

    assert runner_cache.warm(source, str(uv), env, tmp_path, python="/usr/bin/python3.11") == 1

    dry = [c for c in calls(tmp_path) if "--dry-run" in c]
    real = [c for c in calls(tmp_path) if "--dry-run" not in c]
    assert len(dry) == len(runner_cache.LOCKS)
    assert all("--offline" in c and "--python /usr/bin/python3.11" in c for c in dry)
    assert len(real) == 1 and f"/{checkov} " in real[0] and "--offline" not in real[0]
    assert list(tmp_path.glob("runner-cache-*")) == []  # the throwaway installs are gone


def test_a_warm_cache_needs_no_index(tmp_path: Path) -> None:
    source, uv = locks(tmp_path, {})
    assert runner_cache.warm(source, str(uv), {}, tmp_path, python="/usr/bin/python3.11") == 0
    assert all("--dry-run" in c for c in calls(tmp_path))


def test_a_lock_the_index_cannot_serve_fails_the_start_naming_it(tmp_path: Path) -> None:
    evidently = "requirements/side/evidently.txt"
    source, uv = locks(tmp_path, {evidently: "missing-broken==1\n"})
    with pytest.raises(TwinError, match=r"evidently.txt for /usr/bin/python3.11: .*unreachable"):
        runner_cache.warm(source, str(uv), {}, tmp_path, python="/usr/bin/python3.11")
