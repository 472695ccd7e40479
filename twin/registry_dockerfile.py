"""What a Dockerfile target puts in its image, for the twin's fake registry.

Parsed: ``FROM ... AS``, ``WORKDIR``, ``COPY``/``ADD`` (context sources and ``--from=stage``),
``ENV``, ``USER``, ``ENTRYPOINT``, ``CMD``, ``ARG`` defaults, ``STOPSIGNAL``. ``RUN`` is not
executed: what it would install is the twin's runtime (the same lock in the twin's venv), limited
to the packages of the lock files its ``pip sync`` names (``packages`` in the config). The
files taken from the build context are filtered by ``.dockerignore`` with Docker's rules
(last matching pattern wins, ``!`` re-includes, a pattern matching a parent folder matches its
files, ``**`` spans folders).
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from twin.errors import TwinError


@dataclass
class Stage:
    """One ``FROM`` block."""

    index: int
    name: str
    base: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, rest)


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append((current + stripped).strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def parse_stages(dockerfile: Path) -> list[Stage]:
    """The stages of a Dockerfile, in order.

    Raises:
        TwinError: No FROM, or an instruction before the first FROM other than ARG.
    """
    stages: list[Stage] = []
    for line in _logical_lines(dockerfile.read_text(encoding="utf-8")):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = rest.split()
            base = next(w for w in words if not w.startswith("--"))
            name = words[-1] if len(words) >= 3 and words[-2].upper() == "AS" else str(len(stages))
            stages.append(Stage(len(stages), name, base))
        elif stages:
            stages[-1].lines.append((instruction, rest.strip()))
        elif instruction != "ARG":
            raise TwinError(f"{dockerfile}: {instruction} before the first FROM")
    if not stages:
        raise TwinError(f"{dockerfile}: no FROM instruction")
    return stages


def needed_stages(stages: list[Stage], target: str | None) -> list[Stage]:
    """The target stage (default: the last) and every stage it builds on, in file order.

    Raises:
        TwinError: The target is not a stage of the Dockerfile.
    """
    by_name = {s.name: s for s in stages}
    start = by_name.get(target) if target else stages[-1]
    if start is None:
        raise TwinError(
            f"Dockerfile: target stage {target!r} not found (stages: {', '.join(by_name)})"
        )
    wanted: set[int] = set()
    todo = [start]
    while todo:
        stage = todo.pop()
        if stage.index in wanted:
            continue
        wanted.add(stage.index)
        refs = [stage.base] + [
            f[len("--from=") :]
            for i, r in stage.lines
            if i in ("COPY", "ADD")
            for f in r.split()
            if f.startswith("--from=")
        ]
        todo.extend(by_name[r] for r in refs if r in by_name)
    return [s for s in stages if s.index in wanted]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out = out[:-2] + "(?:.*/)?"
                i += 1
            continue
        char = pattern[i]
        out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char) if char != "[" else "[")
        if char == "[":
            end = pattern.find("]", i)
            out += pattern[i + 1 : end + 1]
            i = end
        i += 1
    return re.compile(out + r"\Z")


class DockerIgnore:
    """``.dockerignore`` rules of a build context."""

    def __init__(self, context: Path) -> None:
        self.rules: list[tuple[re.Pattern[str], bool]] = []
        path = context / ".dockerignore"
        if path.exists():
            for raw in path.read_text(encoding="utf-8").splitlines():
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                pattern = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
                self.rules.append((_glob_regex(pattern), negate))

    def ignored(self, rel: str) -> bool:
        """Whether a context-relative file is left out of the build context."""
        parts = rel.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for regex, negate in self.rules:
            if any(regex.match(c) for c in candidates):
                result = not negate
        return result


def _words(rest: str) -> list[str]:
    if rest.startswith("["):
        return [str(w) for w in json.loads(rest)]
    return shlex.split(rest)


def _env_pairs(rest: str) -> dict[str, str]:
    words = shlex.split(rest)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words)


def image_plan(
    context: Path, dockerfile: Path, target: str | None
) -> tuple[dict[str, str], dict[str, Any]]:
    """What the image holds: ``{image path: context-relative file}`` and its config.

    The config has ``workdir``, ``env``, ``user``, ``entrypoint``, ``cmd``, ``stopsignal``,
    ``target``, ``python_paths`` (folders holding a copied ``pyproject.toml``: the project
    that ``pip install .`` would install), ``runtime_paths`` (``COPY --from`` sources that
    RUN produced, provided by the twin's runtime instead) and ``packages`` (the distributions
    the lock files named by those stages' ``pip sync`` install, normalised; empty: no lock
    named, the runtime's whole venv).

    Raises:
        TwinError: A COPY source that the context (after .dockerignore) does not have.
    """
    ignore = DockerIgnore(context)
    files: dict[str, str] = {}
    config: dict[str, Any] = {
        "target": target or "",
        "workdir": "/",
        "env": {},
        "user": "",
        "entrypoint": [],
        "cmd": [],
        "stopsignal": "SIGTERM",
        "runtime_paths": [],
        "packages": [],
    }
    stages = needed_stages(parse_stages(dockerfile), target)
    by_name = {s.name: s for s in stages}
    end_workdir: dict[str, str] = {}
    for stage in stages:  # a base stage always comes before the stages built on it
        workdir = end_workdir.get(stage.base, "/")
        for instruction, rest in stage.lines:
            if instruction == "WORKDIR":
                workdir = posixpath.join(workdir, rest)
            elif instruction in ("COPY", "ADD"):
                _copy(context, ignore, files, config, workdir, _words(rest))
        end_workdir[stage.name] = workdir
    chain: list[Stage] = []
    current: Stage | None = stages[-1]
    while current is not None:
        chain.insert(0, current)
        current = by_name.get(current.base)
    for stage in chain:
        for instruction, rest in stage.lines:
            if instruction == "ENV":
                config["env"].update(_env_pairs(rest))
            elif instruction == "USER":
                config["user"] = rest
            elif instruction in ("ENTRYPOINT", "CMD"):
                words = _words(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
                config[instruction.lower()] = words
            elif instruction == "STOPSIGNAL":
                config["stopsignal"] = rest
    config["workdir"] = end_workdir[stages[-1].name]
    config["python_paths"] = sorted(
        posixpath.dirname(p) for p in files if p.endswith("/pyproject.toml")
    )
    config["packages"] = _synced_packages(context, files, by_name, end_workdir, config)
    return files, config


def _lock_names(text: str) -> set[str]:
    """Distributions a universal lock installs on this (Linux) machine, as in the image.

    A line ``name==version ; marker`` counts only when its environment marker holds here
    (``pywin32 ; sys_platform == 'win32'`` does not).
    """
    names: set[str] = set()
    for match in re.finditer(r"^([A-Za-z0-9][\w.-]*)==[^\s;\\]+\s*(?:;\s*([^\\\n]+))?", text, re.M):
        marker = (match.group(2) or "").strip()
        if not marker or Marker(marker).evaluate():
            names.add(canonicalize_name(match.group(1)))
    return names


def _synced_packages(
    context: Path,
    files: dict[str, str],
    by_name: dict[str, Stage],
    end_workdir: dict[str, str],
    config: dict[str, Any],
) -> list[str]:
    """Distributions the ``pip sync`` lock files of the runtime stages install (and the project)."""
    names: set[str] = set()
    for stage_name in config.pop("runtime_stages", []):
        stage = by_name.get(stage_name)
        workdir = end_workdir.get(stage_name, "/")
        for instruction, rest in stage.lines if stage else []:
            if instruction != "RUN":
                continue
            for command in re.split(r"&&|;", rest):
                words = shlex.split(command)
                if "sync" not in words:
                    continue
                for word in words[words.index("sync") + 1 :]:
                    if not word.endswith(".txt"):
                        continue
                    origin = files.get(posixpath.normpath(posixpath.join(workdir, word)))
                    if origin is None:
                        raise TwinError(
                            f"Dockerfile RUN pip sync {word}: not copied into the image"
                        )
                    names.update(_lock_names((context / origin).read_text(encoding="utf-8")))
    if names:
        for folder in config["python_paths"]:  # each holds a copied pyproject.toml
            pyproject = context / files[posixpath.join(folder, "pyproject.toml")]
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            if project.get("name"):
                names.add(canonicalize_name(project["name"]))
    return sorted(names)


def _copy(
    context: Path,
    ignore: DockerIgnore,
    files: dict[str, str],
    config: dict[str, Any],
    workdir: str,
    words: list[str],
) -> None:
    source_stage = next((w[len("--from=") :] for w in words if w.startswith("--from=")), None)
    args = [w for w in words if not w.startswith("--")]
    *sources, dest = args
    dest_abs = posixpath.normpath(posixpath.join(workdir, dest))
    as_dir = dest.endswith("/") or len(sources) > 1 or dest in (".", "./")
    for src in sources:
        if source_stage is not None:
            taken = {
                p: f for p, f in files.items() if p == src or p.startswith(src.rstrip("/") + "/")
            }
            if not taken:
                config["runtime_paths"].append(dest_abs)
                config.setdefault("runtime_stages", []).append(source_stage)
            for path, origin in taken.items():
                files[posixpath.join(dest_abs, path[len(src.rstrip("/")) :].lstrip("/"))] = origin
            continue
        matches = [p for p in sorted(context.glob(src.lstrip("/"))) if p.exists()]
        found = False
        for match in matches:
            entries = sorted(match.rglob("*")) if match.is_dir() else [match]
            for entry in entries:
                rel = entry.relative_to(context).as_posix()
                if entry.is_dir() or ignore.ignored(rel):
                    continue
                found = True
                if match.is_dir():
                    target = posixpath.join(dest_abs, entry.relative_to(match).as_posix())
                else:
                    target = posixpath.join(dest_abs, entry.name) if as_dir else dest_abs
                files[target] = rel
        if not found:
            raise TwinError(
                f'Dockerfile COPY {src}: "/{src}" not found in the build context '
                "(after .dockerignore)"
            )
