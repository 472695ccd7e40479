"""Argo Workflows' small languages: ``{{...}}`` substitution, ``when`` and ``depends``.

``when`` is evaluated as Argo does (govaluate, with bare words turned into strings, so
``Failed != Succeeded`` is true). ``depends`` uses Argo's task results (``.Succeeded``,
``.Failed``, ``.Errored``, ``.Skipped``, ``.Omitted``, ``.Daemoned``, ``.AnySucceeded``,
``.AllFailed``); a bare task name means ``(T.Succeeded || T.Skipped || T.Daemoned)``.
Unresolved variables under Argo's strict prefixes fail with Argo's "failed to resolve"
message; other ``{{...}}`` text (a Prometheus template, say) is left as it is, as Argo does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from twin.errors import TwinError

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STRICT = re.compile(r"^(workflow\.|inputs\.|outputs\.|tasks\.|steps\.|item\b|pod\.|retries\b)")
RESULTS = (
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
)


class ExprError(TwinError):
    """A template variable, ``when`` or ``depends`` that cannot be evaluated."""


def substitute(text: str, scope: Mapping[str, str]) -> str:
    """Replace every ``{{key}}`` found in ``scope``.

    Raises:
        ExprError: An expression tag (``{{=...}}``) or an unresolved strict variable.
    """

    def replace(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        if key.startswith("="):
            raise ExprError(f"{{{{{key}}}}}: expression tags are not supported by the twin")
        if key in scope:
            return scope[key]
        if _STRICT.match(key):
            raise ExprError(f"failed to resolve {{{{{key}}}}}")
        return match.group(0)

    return _TAG.sub(replace, text)


def substitute_all(value: Any, scope: Mapping[str, str]) -> Any:
    """``substitute`` applied to every string inside a JSON-like value (a deep copy)."""
    if isinstance(value, str):
        return substitute(value, scope)
    if isinstance(value, list):
        return [substitute_all(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: substitute_all(v, scope) for k, v in value.items()}
    return copy.deepcopy(value)


_TOKENS = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<op>&&|\|\||==|!=|>=|<=|=~|!~|[()!<>+\-*/%])|(?P<word>[A-Za-z_][\w.\-]*))"
)


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKENS.match(text, pos)
        if match is None or match.end() == pos:
            raise ExprError(f"invalid expression {text!r} at {text[pos:]!r}")
        if match.group("num") is not None:
            tokens.append(("val", float(match.group("num"))))
        elif match.group("str") is not None:
            tokens.append(("val", match.group("str")[1:-1]))
        elif match.group("op") is not None:
            tokens.append(("op", match.group("op")))
        else:
            word = match.group("word")
            tokens.append(("val", {"true": True, "false": False}.get(word, word)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class _Parser:
    """Precedence climbing over ``||``, ``&&``, comparisons, ``+ -``, ``* / %``, unary."""

    LEVELS = (
        ("||",),
        ("&&",),
        ("==", "!=", ">", "<", ">=", "<=", "=~", "!~"),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def __init__(self, tokens: list[tuple[str, Any]], source: str) -> None:
        self.tokens, self.pos, self.source = tokens, 0, source

    def parse(self) -> Any:
        value = self._level(0)
        if self.pos != len(self.tokens):
            raise ExprError(
                f"invalid expression {self.source!r}: unexpected {self.tokens[self.pos][1]!r}"
            )
        return value

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _level(self, level: int) -> Any:
        if level == len(self.LEVELS):
            return self._unary()
        left = self._level(level + 1)
        while (tok := self._peek()) is not None and tok[0] == "op" and tok[1] in self.LEVELS[level]:
            self.pos += 1
            right = self._level(level + 1)
            left = _apply(tok[1], left, right, self.source)
        return left

    def _unary(self) -> Any:
        tok = self._peek()
        if tok is None:
            raise ExprError(f"invalid expression {self.source!r}: unexpected end")
        self.pos += 1
        if tok == ("op", "!"):
            return not _truth(self._unary(), self.source)
        if tok == ("op", "-"):
            return -float(self._unary())
        if tok == ("op", "("):
            value = self._level(0)
            if self._peek() != ("op", ")"):
                raise ExprError(f"invalid expression {self.source!r}: missing ')'")
            self.pos += 1
            return value
        if tok[0] == "op":
            raise ExprError(f"invalid expression {self.source!r}: unexpected {tok[1]!r}")
        return tok[1]


def _truth(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ExprError(f"expected boolean evaluation for {source!r}, got {value!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _apply(op: str, left: Any, right: Any, source: str) -> Any:
    if op in ("&&", "||"):
        p, q = _truth(left, source), _truth(right, source)
        return (p and q) if op == "&&" else (p or q)
    if op in ("=~", "!~"):
        found = re.search(str(right), str(left)) is not None
        return found if op == "=~" else not found
    a, b = _number(left), _number(right)
    if op in ("==", "!="):
        same = a == b if a is not None and b is not None else left == right
        return same if op == "==" else not same
    if a is None or b is None:
        if op in ("<", ">", "<=", ">=") and isinstance(left, str) and isinstance(right, str):
            return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[
                op
            ]
        if op == "+":
            return f"{left}{right}"
        raise ExprError(f"{source!r}: cannot apply {op} to {left!r} and {right!r}")
    table: dict[str, Callable[[float, float], Any]] = {
        "<": lambda x, y: x < y,
        ">": lambda x, y: x > y,
        "<=": lambda x, y: x <= y,
        ">=": lambda x, y: x >= y,
        "+": lambda x, y: x + y,
        "-": lambda x, y: x - y,
        "*": lambda x, y: x * y,
        "/": lambda x, y: x / y,
        "%": lambda x, y: x % y,
    }
    return table[op](a, b)


def evaluate_when(when: str) -> bool:
    """A substituted ``when`` condition, as Argo's govaluate evaluation gives it.

    Raises:
        ExprError: Not parsable, or not a boolean (Argo: "Expected boolean evaluation").
    """
    return _truth(_Parser(_tokenize(when), when).parse(), when)


_OPERAND = re.compile(r"([A-Za-z0-9][-A-Za-z0-9]*?)\.([A-Z][A-Za-z]+)|([A-Za-z0-9][-A-Za-z0-9]*)")


def depends_tasks(depends: str) -> list[str]:
    """The task names a ``depends`` expression mentions.

    Raises:
        ExprError: An unknown task result (Argo: "task result 'X' for task 'T' is invalid").
    """
    names: list[str] = []
    for match in _OPERAND.finditer(depends):
        name = match.group(1) or match.group(3)
        if match.group(2) and match.group(2) not in RESULTS:
            raise ExprError(f"task result '{match.group(2)}' for task '{name}' is invalid")
        if name not in names:
            names.append(name)
    return names


def evaluate_depends(depends: str, result: Callable[[str, str], bool]) -> bool:
    """Evaluate ``depends`` with ``result(task, TaskResult)`` giving each operand."""

    def operand(match: re.Match[str]) -> str:
        if match.group(3):
            task = match.group(3)
            value = any(result(task, r) for r in ("Succeeded", "Skipped", "Daemoned"))
        else:
            value = result(match.group(1), match.group(2))
        return " true " if value else " false "

    text = _OPERAND.sub(operand, depends)
    return evaluate_when(text)


def dependencies_as_depends(dependencies: list[str]) -> str:
    """``dependencies: [A, B]`` as the ``depends`` expression Argo converts it to."""
    return " && ".join(dependencies)
