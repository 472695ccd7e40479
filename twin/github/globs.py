"""Two pattern languages GitHub uses.

``filter_match`` is the workflow filter syntax of ``branches``, ``tags`` and ``paths``
("Filter pattern cheat sheet"): ``*`` any characters but ``/``, ``**`` any characters,
``?`` zero or one of the preceding character, ``+`` one or more of it, ``[...]`` a class,
and a leading ``!`` negates; patterns apply in order and the last match wins.

``glob_files`` is the file glob of ``@actions/glob`` used by ``hashFiles`` and
``actions/upload-artifact``: one pattern per line, ``!`` lines exclude, a matched directory
brings every file under it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=512)
def filter_regex(pattern: str) -> re.Pattern[str]:
    """The compiled regular expression of one filter pattern (without its ``!``)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char in "?+" and out:
            out.append(char)
            i += 1
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(char))
                i += 1
            else:
                out.append("[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]")
                i = end + 1
        elif char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z")


def filter_match(patterns: Sequence[str], value: str) -> bool:
    """Whether ``value`` is selected by an ordered pattern list (``!`` patterns exclude)."""
    selected = False
    for raw in patterns:
        pattern = str(raw)
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        if filter_regex(body).match(value):
            selected = not negated
    return selected


def _walk(root: Path) -> Iterable[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


def _segment_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in segment[i + 1 :]:
            end = segment.index("]", i + 1)
            body = segment[i + 1 : end]
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    for index, segment in enumerate(pattern.split("/")):
        if segment == "**":
            out += "(?:[^/]+/)*" if index < len(pattern.split("/")) - 1 else ".*"
        else:
            out += _segment_regex(segment) + "/"
    return re.compile(out.removesuffix("/") + r"\Z")


def glob_files(root: Path, lines: Sequence[str], *, include_hidden: bool = True) -> list[Path]:
    """Files under ``root`` matched by glob ``lines`` (absolute or relative to ``root``).

    A line naming a directory (or a glob matching one) selects every file below it; ``!``
    lines remove what they match; blank lines and ``#`` comments are ignored.
    """
    root = root.resolve()
    selected: dict[Path, None] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        body = line[1:].strip() if negated else line
        base = Path(body) if Path(body).is_absolute() else root / body
        matches = _expand(base)
        if negated:
            for path in matches:
                selected.pop(path, None)
        else:
            for path in matches:
                selected[path] = None
    files = sorted(selected)
    if not include_hidden:
        files = [p for p in files if not any(part.startswith(".") for part in _rel_parts(p, root))]
    return files


def _rel_parts(path: Path, root: Path) -> tuple[str, ...]:
    try:
        return path.relative_to(root).parts
    except ValueError:
        return path.parts


def _expand(base: Path) -> list[Path]:
    text = str(base)
    if not any(ch in text for ch in "*?["):
        if base.is_dir():
            return [p.resolve() for p in _walk(base)]
        return [base.resolve()] if base.is_file() else []
    parts = base.parts
    fixed = next(i for i, part in enumerate(parts) if any(ch in part for ch in "*?["))
    anchor = Path(*parts[:fixed])
    if not anchor.is_dir():
        return []
    regex = _glob_regex("/".join(parts[fixed:]))
    found: dict[Path, None] = {}
    for path in sorted(anchor.rglob("*")):
        rel = path.relative_to(anchor).as_posix()
        if regex.match(rel):
            if path.is_dir():
                found.update((p.resolve(), None) for p in _walk(path))
            elif path.is_file():
                found[path.resolve()] = None
    return list(found)
