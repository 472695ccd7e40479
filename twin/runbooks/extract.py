"""Command blocks of the runbooks and playbooks, with what each needs to run.

Every fenced ``bash``/``sh``/``shell``/``console`` block of ``docs/runbooks`` and
``docs/playbooks`` is preceded by a marker
comment (invisible when rendered) that says whether and how it runs:

```text
<!-- run: needs=cluster,prometheus -->          runnable; needs the cluster and Prometheus
<!-- run: needs=data expect=0,10,20 -->         exit statuses that count as success
<!-- run: needs=pushgateway changes -->         changes state (runs only when allowed)
<!-- run: manual -- <commit> is a placeholder --> not runnable as written; the reason
```

``needs`` names capabilities (:data:`CAPABILITIES`); ``repo`` alone means the repository's
files are enough. A block without a marker, a marker without a block, an unknown capability or
option: :class:`MarkerError` naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHELL_LANGS = frozenset({"bash", "sh", "shell", "console"})
CAPABILITIES = {
    "repo": "the repository's files (always there)",
    "data": "a workspace with the feature store, labels and models/ outputs (dvc pull or repro)",
    "dvc": "a DVC checkout of the project whose default remote is reachable (dvc pull works)",
    "cluster": "a kubectl that talks to the cluster (the twin's shim in the twin)",
    "prometheus": "PROMETHEUS_URL",
    "pushgateway": "PUSHGATEWAY_URL",
    "alertmanager": "ALERTMANAGER_URL",
    "mlflow": "MLFLOW_TRACKING_URI (a tracking server)",
    "s3": "S3 (AWS_ENDPOINT_URL in the twin, the platform's role in AWS)",
    "github": "the GitHub API (GITHUB_API_URL and a token)",
}
_MARKER = re.compile(r"^<!--\s*run:\s*(?P<body>.*?)\s*-->$")
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")


class MarkerError(ValueError):
    """A run marker or the block it belongs to is malformed (the message names file:line)."""


@dataclass(frozen=True)
class Block:
    """One command block and how it runs.

    Attributes:
        where: ``path:line`` of the block's first command line.
        lang: The fence's language.
        script: The commands, as a shell would read them.
        runnable: False for ``manual`` blocks.
        needs: Capabilities the block needs (always includes ``repo``).
        changes: Whether running it changes state (a push, a commit, a rollback).
        expect: Exit statuses that count as success.
        reason: Why a manual block is not run.
    """

    where: str
    lang: str
    script: str
    runnable: bool
    needs: frozenset[str]
    changes: bool
    expect: tuple[int, ...]
    reason: str = ""


@dataclass(frozen=True)
class Marker:
    """A parsed ``<!-- run: ... -->`` comment."""

    runnable: bool
    needs: frozenset[str]
    changes: bool
    expect: tuple[int, ...]
    reason: str


def parse_marker(body: str, where: str) -> Marker:
    """Parse the text after ``run:``.

    Raises:
        MarkerError: Unknown option or capability, a manual block without a reason.
    """
    options, _, reason = body.partition("--")
    words = options.split()
    if words[:1] == ["manual"]:
        if len(words) > 1 or not reason.strip():
            raise MarkerError(f"{where}: expected 'run: manual -- <reason>', got {body!r}")
        return Marker(False, frozenset({"repo"}), False, (0,), reason.strip())
    if reason:
        raise MarkerError(f"{where}: a reason ('-- ...') is only for manual blocks")
    needs, changes = {"repo"}, False
    expect: tuple[int, ...] = (0,)
    for word in words:
        key, _, value = word.partition("=")
        if key == "needs" and value:
            unknown = set(value.split(",")) - set(CAPABILITIES)
            if unknown:
                raise MarkerError(f"{where}: unknown capability {sorted(unknown)[0]!r}")
            needs |= set(value.split(","))
        elif key == "expect" and re.fullmatch(r"\d+(,\d+)*", value):
            expect = tuple(int(v) for v in value.split(","))
        elif word == "changes":
            changes = True
        else:
            raise MarkerError(f"{where}: unknown run option {word!r}")
    return Marker(True, frozenset(needs), changes, expect, "")


DRILL_MARKER = "<!-- runnable:"


def _script(lines: list[str], indent: str) -> str:
    out = []
    for line in lines:
        text = line[len(indent) :] if line.startswith(indent) else line.lstrip()
        out.append(text.removeprefix("$ "))
    return "\n".join(out).strip("\n")


def blocks(path: Path, root: Path) -> list[Block]:
    """Every shell block of one Markdown file, with its marker.

    Raises:
        MarkerError: A shell block has no marker, or a marker is malformed or dangling.
    """
    rel = path.relative_to(root)
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    pending: tuple[Marker, str] | None = None
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        where = f"{rel}:{index + 1}"
        marker = _MARKER.match(stripped)
        fence = _FENCE.match(lines[index])
        if stripped.startswith(DRILL_MARKER):
            # A disaster-recovery drill block (pipelines/infra/runbook.py runs and checks it).
            pending = (Marker(False, frozenset(), False, (0,), "disaster-recovery drill"), where)
        elif marker:
            if pending is not None:
                raise MarkerError(f"{pending[1]}: run marker without a command block after it")
            pending = (parse_marker(marker.group("body"), where), where)
        elif fence:
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            lang = fence.group("lang")
            if lang in SHELL_LANGS:
                if pending is None:
                    raise MarkerError(f"{where}: {lang} block without a '<!-- run: ... -->' marker")
                m = pending[0]
                script = _script(lines[index + 1 : end], fence.group("indent"))
                out.append(
                    Block(
                        f"{rel}:{index + 2}",
                        lang,
                        script,
                        m.runnable,
                        m.needs,
                        m.changes,
                        m.expect,
                        m.reason,
                    )
                )
            elif pending is not None:
                raise MarkerError(f"{pending[1]}: run marker before a {lang or 'plain'} block")
            pending = None
            index = end
        elif stripped and pending is not None:
            raise MarkerError(f"{pending[1]}: run marker not directly before a command block")
        index += 1
    if pending is not None:
        raise MarkerError(f"{pending[1]}: run marker without a command block after it")
    return out


DOC_FOLDERS = ("runbooks", "playbooks")


def docs_blocks(docs: Path, root: Path) -> list[Block]:
    """The blocks of every runbook and playbook under ``docs`` (sorted by path)."""
    files = sorted(p for folder in DOC_FOLDERS for p in (docs / folder).rglob("*.md"))
    return [b for path in files for b in blocks(path, root)]
