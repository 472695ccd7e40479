r"""The subset of kubectl's ``-o jsonpath=`` templates the twin's callers use.

Supported: literal text around ``{...}`` expressions; paths of ``.field`` (``\.`` escapes a dot
in a key, as in ``{.metadata.annotations.kubernetes\.io/name}``), ``['key']``, ``[N]``
(negative too) and ``[*]``. Several results are joined by spaces, as kubectl does. Anything
else (``range``, filters, ``..``) is refused with one line naming the template.
"""

from __future__ import annotations

import json
import re
from typing import Any

from twin.errors import TwinError

_TOKEN = re.compile(r"\[\*\]|\[-?\d+\]|\['[^']*'\]|\[\"[^\"]*\"\]|\.((?:\\\.|[^.\[])+)")


def _steps(path: str, template: str) -> list[str | int | None]:
    steps: list[str | int | None] = []
    pos = 0
    if path in ("", "."):
        return steps
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if match is None or match.end() == pos:
            raise TwinError(f"jsonpath {template!r}: cannot parse {path[pos:]!r}")
        text = match.group(0)
        if text == "[*]":
            steps.append(None)
        elif text.startswith("[") and text[1] in "'\"":
            steps.append(text[2:-2])
        elif text.startswith("["):
            steps.append(int(text[1:-1]))
        else:
            steps.append(match.group(1).replace("\\.", "."))
        pos = match.end()
    return steps


def _walk(values: list[Any], steps: list[str | int | None]) -> list[Any]:
    for step in steps:
        found: list[Any] = []
        for value in values:
            if step is None:
                if isinstance(value, list):
                    found.extend(value)
                elif isinstance(value, dict):
                    found.extend(value.values())
            elif isinstance(step, int):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    found.append(value[step])
            elif isinstance(value, dict) and step in value:
                found.append(value[step])
        values = found
    return values


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def render(template: str, doc: Any) -> str:
    """Apply a kubectl jsonpath template to ``doc``.

    A missing path renders as nothing, as kubectl's printer does (it allows missing keys).

    Raises:
        TwinError: The template uses something the twin does not implement.
    """
    out: list[str] = []
    pos = 0
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            out.append(template[pos:])
            break
        out.append(template[pos:start])
        end = template.find("}", start)
        if end < 0:
            raise TwinError(f"jsonpath {template!r}: unclosed '{{'")
        expr = template[start + 1 : end].strip()
        if expr.startswith(("range", "end", "@", "..")) or "?(" in expr:
            raise TwinError(f"jsonpath {template!r}: {expr!r} is not supported by the twin")
        if not expr.startswith((".", "[")) and expr:
            raise TwinError(f"jsonpath {template!r}: expected a path starting with '.'")
        steps = _steps(expr, template)
        values = _walk([doc], steps)
        out.append(" ".join(_text(v) for v in values))
        pos = end + 1
    return "".join(out)
