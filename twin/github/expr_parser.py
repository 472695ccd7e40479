"""The parser of GitHub Actions expressions: tokens, then a syntax tree of nested tuples.

Nodes: ``("lit", value)``, ``("ctx", name)``, ``("not", node)``, ``("index", node, node)``,
``("filter", node)`` (``.*``), ``("call", name, [node])`` and ``("bin", op, left, right)``.
Names are lower-cased (contexts and functions ignore case).
"""

from __future__ import annotations

import math
import re
from typing import Any

from twin.github.expr_values import ExpressionError, to_str

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>-?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
    | (?P<str>'(?:[^']|'')*')
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,*])
    | (?P<id>[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<end>}})
    )""",
    re.VERBOSE,
)


def tokens(text: str, start: int = 0, *, until_close: bool = False) -> tuple[list[Any], int]:
    """Tokens from ``start``; with ``until_close`` stop after the closing ``}}``."""
    out: list[tuple[str, Any]] = []
    pos = start
    while True:
        if pos >= len(text) or not text[pos:].strip():
            if until_close:
                raise ExpressionError(f"unclosed '${{{{' in {text!r}")
            return out, len(text)
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].strip()[:1]!r} in {text!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "end":
            if until_close:
                return out, pos
            raise ExpressionError(f"unexpected '}}}}' in {text!r}")
        if kind == "num":
            out.append(("lit", _number(value)))
        elif kind == "str":
            out.append(("lit", value[1:-1].replace("''", "'")))
        elif kind == "id":
            lowered = value.lower()
            literals: dict[str, Any] = {"true": True, "false": False, "null": None}
            literals |= {"nan": math.nan, "infinity": math.inf}
            out.append(("lit", literals[lowered]) if lowered in literals else ("id", value))
        else:
            out.append(("op", value))


def _number(text: str) -> float:
    lowered = text.lower()
    if "0x" in lowered:
        return float(int(lowered, 16))
    if "0o" in lowered:
        return float(int(lowered, 8))
    return float(text)


class Parser:
    """A recursive-descent parser over a token list."""

    def __init__(self, tokens: list[Any], source: str) -> None:
        self.tokens, self.pos, self.source = tokens, 0, source

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, op: str | None = None) -> tuple[str, Any]:
        token = self._peek()
        if token is None or (op is not None and token != ("op", op)):
            want = f"'{op}'" if op else "more"
            raise ExpressionError(f"expected {want} in expression {self.source!r}")
        self.pos += 1
        return token

    def parse(self) -> Any:
        """The whole token list as one expression."""
        if not self.tokens:
            raise ExpressionError("empty expression")
        node = self._binary(0)
        if self._peek() is not None:
            raise ExpressionError(f"unexpected {self._peek()[1]!r} in {self.source!r}")  # type: ignore[index]
        return node

    LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="))

    def _binary(self, level: int) -> Any:
        if level == len(self.LEVELS):
            return self._unary()
        node = self._binary(level + 1)
        while (token := self._peek()) and token[0] == "op" and token[1] in self.LEVELS[level]:
            self.pos += 1
            node = ("bin", token[1], node, self._binary(level + 1))
        return node

    def _unary(self) -> Any:
        if self._peek() == ("op", "!"):
            self.pos += 1
            return ("not", self._unary())
        return self._postfix(self._primary())

    def _primary(self) -> Any:
        kind, value = self._take()
        if kind == "lit":
            return ("lit", value)
        if kind == "id":
            if self._peek() == ("op", "("):
                self.pos += 1
                args = []
                if self._peek() != ("op", ")"):
                    args.append(self._binary(0))
                    while self._peek() == ("op", ","):
                        self.pos += 1
                        args.append(self._binary(0))
                self._take(")")
                return ("call", value.lower(), args)
            return ("ctx", value.lower())
        if (kind, value) == ("op", "("):
            node = self._binary(0)
            self._take(")")
            return node
        raise ExpressionError(f"unexpected {value!r} in {self.source!r}")

    def _postfix(self, node: Any) -> Any:
        while (token := self._peek()) and token in (("op", "."), ("op", "[")):
            self.pos += 1
            if token == ("op", "."):
                kind, value = self._take()
                if (kind, value) == ("op", "*"):
                    node = ("filter", node)
                elif kind == "id" or (kind == "lit" and isinstance(value, bool | None)):
                    name = value if kind == "id" else to_str(value)
                    node = ("index", node, ("lit", name))
                else:
                    raise ExpressionError(f"bad property name after '.' in {self.source!r}")
            elif self._peek() == ("op", "*"):
                self.pos += 1
                self._take("]")
                node = ("filter", node)
            else:
                index = self._binary(0)
                self._take("]")
                node = ("index", node, index)
        return node


def parse(expression: str) -> Any:
    """The syntax tree of one expression (without ``${{ }}``)."""
    found, _ = tokens(expression)
    return Parser(found, expression).parse()
