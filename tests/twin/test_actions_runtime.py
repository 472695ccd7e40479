"""Runner pieces without a server: command files, shells, concurrency groups, token permissions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from twin.errors import TwinError
from twin.github.concurrency import ConcurrencyGroups, Holder
from twin.github.globs import glob_files
from twin.github.stepexec import CommandFileError, parse_command_file, shell_command
from twin.github.tokens import PERMISSIVE, RESTRICTED, TokenTable, job_permissions

PATH = "/usr/local/bin:/usr/bin:/bin"


def test_command_file_forms(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("a=1\nb=x=y\nnotes<<EOF_1\nline one\n\nline=three\nEOF_1\nempty=\n")
    assert parse_command_file(path) == {
        "a": "1",
        "b": "x=y",
        "notes": "line one\n\nline=three",
        "empty": "",
    }


def test_command_file_errors_name_the_fault(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("value<<END\nno end\n")
    with pytest.raises(CommandFileError, match="matching delimiter not found 'END'"):
        parse_command_file(path)
    path.write_text("just text\n")
    with pytest.raises(CommandFileError, match="invalid format 'just text'"):
        parse_command_file(path)


def test_shells_follow_github(tmp_path: Path) -> None:
    script = tmp_path / "s.sh"
    assert shell_command(None, script, PATH)[1:] == ["-e", str(script)]
    assert shell_command("bash", script, PATH)[1:] == [
        "--noprofile",
        "--norc",
        "-eo",
        "pipefail",
        str(script),
    ]
    assert shell_command("sh", script, PATH)[1:] == ["-e", str(script)]
    assert shell_command("bash -x {0}", script, PATH)[1:] == ["-x", str(script)]
    with pytest.raises(TwinError, match="'pwsh' is not on the job's PATH"):
        shell_command("pwsh", script, PATH)


def _holder(name: str, log: list[str]) -> Holder:
    return Holder(
        name, threading.Event(), on_cancel=lambda message: log.append(f"{name}: {message}")
    )


def test_concurrency_newer_pending_replaces_older_pending() -> None:
    groups, log = ConcurrencyGroups(), []
    first, second, third = (_holder(n, log) for n in ("first", "second", "third"))
    assert groups.acquire("Deploy", first, cancel_in_progress=False)
    got: dict[str, bool] = {}
    pending = threading.Event()
    second.on_pending = pending.set
    waiter = threading.Thread(
        target=lambda: got.update(second=groups.acquire("deploy", second, cancel_in_progress=False))
    )
    waiter.start()
    assert pending.wait(5)
    third_thread = threading.Thread(
        target=lambda: got.update(third=groups.acquire("DEPLOY", third, cancel_in_progress=False))
    )
    third_thread.start()
    waiter.join(5)
    assert got == {"second": False}
    assert log == ["second: Canceling since a higher priority waiting request for DEPLOY exists"]
    assert not first.cancelled.is_set()
    groups.release("deploy", first)
    third_thread.join(5)
    assert got["third"] is True


def test_concurrency_cancel_in_progress_cancels_the_running_one() -> None:
    groups, log = ConcurrencyGroups(), []
    first, second = _holder("first", log), _holder("second", log)
    assert groups.acquire("ci", first, cancel_in_progress=True)
    done: dict[str, bool] = {}
    thread = threading.Thread(
        target=lambda: done.update(second=groups.acquire("ci", second, cancel_in_progress=True))
    )
    thread.start()
    assert first.cancelled.wait(5)
    groups.release("ci", first)  # the cancelled run finishes and frees its place
    thread.join(5)
    assert done == {"second": True}


def test_job_permissions() -> None:
    assert job_permissions(None, None, "read") == RESTRICTED
    assert job_permissions(None, None, "write") == PERMISSIVE
    assert "id-token" not in PERMISSIVE
    assert job_permissions({}, None, "write") == {}
    assert job_permissions({"contents": "read"}, {"pull-requests": "write"}, "read") == {
        "pull-requests": "write"
    }
    assert job_permissions("read-all", None, "read")["actions"] == "read"
    with pytest.raises(ValueError, match="unknown 'content: write'"):
        job_permissions({"content": "write"}, None, "read")
    table = TokenTable()
    token = table.mint("workflow", "github-actions[bot]", {"contents": "read"})
    assert token.value.startswith("ghs_wf_") and not token.starts_workflows
    assert token.can("contents", "read") and not token.can("contents", "write")
    table.revoke(token.value)
    assert table.get(token.value) is None
    assert table.mint("app", "bot[bot]", {}).starts_workflows


def test_glob_files_lines_excludes_and_hidden(tmp_path: Path) -> None:
    for name in ("dist/a.txt", "dist/sub/b.txt", "dist/.hidden", "dist/skip.log", "other/c.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    found = glob_files(tmp_path, ["dist/", "!dist/*.log", "other/*.txt"], include_hidden=False)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "dist/a.txt",
        "dist/sub/b.txt",
        "other/c.txt",
    ]
    assert len(glob_files(tmp_path, ["**/*.txt"])) == 3
