"""Values of GitHub Actions expressions: coercion, loose equality, and the built-in functions.

GitHub's rules (docs "Evaluate expressions in workflows and actions"): falsy values are
``false``, ``0``, ``-0``, ``""``, ``null`` and ``NaN``; ``==`` between different types converts
both sides to numbers; strings compare ignoring case; objects and arrays are equal only when
they are the same instance. Status functions (``success()`` ...) are supplied by the caller.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twin.github.globs import glob_files


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated (the message names the fault)."""


class FilteredArray(list[Any]):
    """The result of an object filter (``needs.*.result``): property access maps over it."""


def truthy(value: Any) -> bool:
    """GitHub's truthiness."""
    if value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def to_number(value: Any) -> float:
    """GitHub's number coercion (``null`` is 0, invalid strings and containers are NaN)."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            if text.lower().startswith(("0x", "-0x", "+0x")):
                return float(int(text, 16))
            if text.lower().startswith(("0o", "-0o", "+0o")):
                return float(int(text, 8))
            return float(text)
        except ValueError:
            return math.nan
    return math.nan


def to_str(value: Any) -> str:
    """The string form GitHub writes into a template (``null`` is empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "Array"
    return "Object"


def format_number(number: float) -> str:
    """Integers without a decimal point, like GitHub (``1`` not ``1.0``)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "container"


def loose_equal(left: Any, right: Any) -> bool:
    """``==`` with GitHub's coercion."""
    kl, kr = _kind(left), _kind(right)
    if kl == kr:
        if kl == "string":
            return bool(left.casefold() == right.casefold())
        if kl == "container":
            return left is right
        if kl == "number":
            return float(left) == float(right)
        return bool(left == right)
    return to_number(left) == to_number(right)


def compare(left: Any, right: Any, op: str) -> bool:
    """``<``, ``<=``, ``>``, ``>=``: strings ignoring case, everything else as numbers."""
    a: Any
    b: Any
    if isinstance(left, str) and isinstance(right, str):
        a, b = left.casefold(), right.casefold()
    else:
        a, b = to_number(left), to_number(right)
        if math.isnan(a) or math.isnan(b):
            return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list):
        return any(loose_equal(element, item) for element in search)
    return to_str(item).casefold() in to_str(search).casefold()


def _format(template: Any, *args: Any) -> str:
    text, out, i = to_str(template), [], 0
    while i < len(text):
        char = text[i]
        if char == "{" and text.startswith("{{", i):
            out.append("{")
            i += 2
        elif char == "}" and text.startswith("}}", i):
            out.append("}")
            i += 2
        elif char == "{":
            end = text.find("}", i)
            index = text[i + 1 : end] if end > 0 else ""
            if not index.isdigit() or int(index) >= len(args):
                raise ExpressionError(f"format(): invalid placeholder in {text!r}")
            out.append(to_str(args[int(index)]))
            i = end + 1
        elif char == "}":
            raise ExpressionError(f"format(): unbalanced '}}' in {text!r}")
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _join(value: Any, separator: Any = ",") -> str:
    if isinstance(value, list):
        return to_str(separator).join(to_str(item) for item in value)
    return to_str(value)


def _from_json(value: Any) -> Any:
    try:
        return json.loads(to_str(value))
    except json.JSONDecodeError as exc:
        raise ExpressionError(f"fromJSON(): not JSON: {to_str(value)[:60]!r} ({exc})") from None


def hash_files(workspace: Path, patterns: Sequence[str]) -> str:
    """``hashFiles``: SHA-256 over each matched file's SHA-256, in path order; ``""`` if none."""
    files = glob_files(workspace, [p for pattern in patterns for p in pattern.splitlines()])
    if not files:
        return ""
    total = hashlib.sha256()
    for path in files:
        total.update(hashlib.sha256(path.read_bytes()).digest())
    return total.hexdigest()


def builtin_functions(workspace: Path | None) -> dict[str, Callable[..., Any]]:
    """The non-status functions, keyed by lower-case name."""

    def hash_files_here(*patterns: Any) -> str:
        if workspace is None:
            raise ExpressionError("hashFiles() is only available in a job's steps")
        return hash_files(workspace, [to_str(p) for p in patterns])

    return {
        "contains": _contains,
        "startswith": lambda s, v: to_str(s).casefold().startswith(to_str(v).casefold()),
        "endswith": lambda s, v: to_str(s).casefold().endswith(to_str(v).casefold()),
        "format": _format,
        "join": _join,
        "tojson": lambda v: json.dumps(v, indent=2),
        "fromjson": _from_json,
        "hashfiles": hash_files_here,
    }
