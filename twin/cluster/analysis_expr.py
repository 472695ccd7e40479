"""Argo Rollouts' condition language: parsing the expr-lang subset AnalysisTemplates use.

Argo evaluates ``successCondition`` / ``failureCondition`` with github.com/expr-lang/expr and an
environment of ``result`` plus ``asInt``, ``asFloat``, ``isNaN``, ``isInf``, ``isNil`` and
``default`` (utils/evaluate/evaluate.go, ``EvalCondition``). This module parses and evaluates
the same expressions: literals, ``result``, indexing (``result[0]``, negative indexes from the
end), member access on maps, calls, ``!``/``not``, unary ``-``, ``* / % **``, ``+ -``,
comparisons, ``in``, ``&&``/``and``, ``||``/``or`` (short-circuit), ``a ? b : c``, and the
builtins ``len``, ``all``, ``any``, ``none``, ``one``, ``filter``, ``map``, ``count`` (with a
predicate ``{# > 0}`` or ``# > 0``), ``abs``, ``min``, ``max``, ``sum``, ``int``, ``float``.

Semantics kept from expr (and Go): ``/`` is float division; comparisons of numbers with NaN
are false; an index out of range, a comparison of a number with nil or a string, and an
unknown name are errors (Argo turns an error into an ``Error`` measurement). The result must be
a bool, else an error ("expected bool, but got ...").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from twin.cluster.analysis_values import (
    PREDICATES,
    ExprError,
    Node,
    binary,
    call,
    indexer,
    lookup,
    member,
    number,
    truth,
    type_name,
)

TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+|\d+)"
    r"|(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|&&|\|\||==|!=|<=|>=|\?\?|[-+*/%^<>!()\[\]{},.?:#]))"
)
BINARY_PRECEDENCE = {
    "||": 1,
    "or": 1,
    "&&": 2,
    "and": 2,
    "==": 3,
    "!=": 3,
    "<": 3,
    ">": 3,
    "<=": 3,
    ">=": 3,
    "in": 3,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
    "**": 7,
    "^": 7,
}
LITERALS: dict[str, Any] = {"true": True, "false": False, "nil": None}


@dataclass(frozen=True)
class Token:
    """One lexical token: kind (num, str, name, op, end) and its text."""

    kind: str
    text: str


def tokenize(source: str) -> list[Token]:
    """Split a condition into tokens.

    Raises:
        ExprError: A character that is not part of the language.
    """
    tokens: list[Token] = []
    pos = 0
    source = source.rstrip()
    while pos < len(source):
        match = TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            raise ExprError(f"unexpected character {source[pos:].strip()[:1]!r} at {pos}")
        kind = match.lastgroup or "op"
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
    tokens.append(Token("end", ""))
    return tokens


class Parser:
    """Pratt parser producing closures (compile once, evaluate per measurement)."""

    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.pos = 0

    def peek(self) -> Token:
        """The next token, not consumed."""
        return self.tokens[self.pos]

    def take(self, text: str | None = None) -> Token:
        """Consume the next token (which must be ``text`` when given)."""
        token = self.tokens[self.pos]
        if text is not None and token.text != text:
            raise ExprError(f"expected {text!r}, got {token.text or 'end of input'!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        """The whole expression."""
        node = self.expression(0)
        if self.peek().kind != "end":
            raise ExprError(f"unexpected token {self.peek().text!r}")
        return node

    def expression(self, min_precedence: int) -> Node:
        """Binary operators of at least ``min_precedence``, then the ternary."""
        left = self.unary()
        while True:
            token = self.peek()
            precedence = BINARY_PRECEDENCE.get(token.text) if token.kind in ("op", "name") else None
            if precedence is None or precedence < min_precedence:
                break
            self.take()
            right_assoc = token.text in ("**", "^")
            right = self.expression(precedence if right_assoc else precedence + 1)
            left = binary(token.text, left, right)
        if min_precedence == 0 and self.peek().text == "?":
            self.take("?")
            yes = self.expression(0)
            self.take(":")
            no = self.expression(0)
            cond = left
            return lambda env: yes(env) if truth(cond(env)) else no(env)
        return left

    def unary(self) -> Node:
        """``!``, ``not``, ``-`` and ``+`` prefixes."""
        token = self.peek()
        if token.text in ("!", "not"):
            self.take()
            operand = self.unary()
            return lambda env: not truth(operand(env))
        if token.text in ("-", "+"):
            self.take()
            operand = self.unary()
            sign = -1 if token.text == "-" else 1
            return lambda env: sign * number(operand(env), token.text)
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        """Indexing, member access and calls after a primary."""
        while True:
            token = self.peek()
            if token.text == "[":
                self.take()
                index = self.expression(0)
                self.take("]")
                node = indexer(node, index)
            elif token.text == ".":
                self.take()
                name = self.take().text
                node = member(node, name)
            else:
                return node

    def primary(self) -> Node:
        """Literals, names, calls, parenthesised expressions, arrays and ``#``."""
        token = self.take()
        if token.kind == "num":
            number: float = (
                float(token.text) if re.search(r"[.eE]", token.text) else int(token.text)
            )
            return lambda env: number
        if token.kind == "str":
            text = bytes(token.text[1:-1], "utf-8").decode("unicode_escape")
            return lambda env: text
        if token.text == "(":
            inner = self.expression(0)
            self.take(")")
            return inner
        if token.text == "[":
            items = self.arguments("]")
            return lambda env: [item(env) for item in items]
        if token.text == "#":
            return lambda env: env["#"]
        if token.kind == "name":
            if token.text in LITERALS:
                value = LITERALS[token.text]
                return lambda env: value
            if self.peek().text == "(":
                self.take("(")
                return self.call(token.text)
            name = token.text
            return lambda env: lookup(env, name)
        raise ExprError(f"unexpected token {token.text or 'end of input'!r}")

    def arguments(self, closing: str) -> list[Node]:
        """Comma-separated expressions up to ``closing``."""
        items: list[Node] = []
        while self.peek().text != closing:
            items.append(self.expression(0))
            if self.peek().text != ",":
                break
            self.take(",")
        self.take(closing)
        return items

    def call(self, name: str) -> Node:
        """A builtin call; predicates of ``all``/``any``/... are closures over ``#``."""
        if name in PREDICATES:
            collection = self.expression(0)
            self.take(",")
            braced = self.peek().text == "{"
            if braced:
                self.take("{")
            predicate = self.expression(0)
            if braced:
                self.take("}")
            self.take(")")
            return PREDICATES[name](collection, predicate)
        args = self.arguments(")")
        return lambda env: call(env, name, [a(env) for a in args])


def compile_condition(source: str) -> Node:
    """Parse a condition once.

    Raises:
        ExprError: It does not parse.
    """
    return Parser(source).parse()


def evaluate(condition: str, result: Any) -> bool:
    """Evaluate a condition with Argo's environment (``EvalCondition``).

    Args:
        condition: The expression.
        result: The provider's value: a float (scalar), a list of floats (vector), or None.

    Raises:
        ExprError: A parse or run-time error, or a non-bool result.
    """
    env: dict[str, Any] = {
        "result": result,
        "isNil": lambda _v=None: result is None,
        "default": lambda _v, fallback: fallback if result is None else result,
    }
    value = compile_condition(condition)(env)
    if not isinstance(value, bool):
        raise ExprError(f"expected bool, but got {type_name(value)}")
    return value
