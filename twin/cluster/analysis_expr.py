"""Argo Rollouts' condition language: the subset of expr-lang that AnalysisTemplates use.

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

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ExprError(Exception):
    """A condition that does not compile or fails at run time."""


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


# A parsed expression is a closure over the environment: env -> value.
Node = Callable[[dict[str, Any]], Any]


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
            left = _binary(token.text, left, right)
        if min_precedence == 0 and self.peek().text == "?":
            self.take("?")
            yes = self.expression(0)
            self.take(":")
            no = self.expression(0)
            cond = left
            return lambda env: yes(env) if _truth(cond(env)) else no(env)
        return left

    def unary(self) -> Node:
        """``!``, ``not``, ``-`` and ``+`` prefixes."""
        token = self.peek()
        if token.text in ("!", "not"):
            self.take()
            operand = self.unary()
            return lambda env: not _truth(operand(env))
        if token.text in ("-", "+"):
            self.take()
            operand = self.unary()
            sign = -1 if token.text == "-" else 1
            return lambda env: sign * _number(operand(env), token.text)
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        """Indexing, member access and calls after a primary."""
        while True:
            token = self.peek()
            if token.text == "[":
                self.take()
                index = self.expression(0)
                self.take("]")
                node = _indexer(node, index)
            elif token.text == ".":
                self.take()
                name = self.take().text
                node = _member(node, name)
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
            return lambda env: _lookup(env, name)
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
        if name in PREDICATE_BUILTINS:
            collection = self.expression(0)
            self.take(",")
            braced = self.peek().text == "{"
            if braced:
                self.take("{")
            predicate = self.expression(0)
            if braced:
                self.take("}")
            self.take(")")
            return PREDICATE_BUILTINS[name](collection, predicate)
        args = self.arguments(")")
        return lambda env: _call(env, name, [a(env) for a in args])


def _lookup(env: dict[str, Any], name: str) -> Any:
    if name not in env:
        raise ExprError(f"unknown name {name}")
    return env[name]


def _truth(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"invalid operation: expected bool, got {_type(value)}")
    return value


def _type(value: Any) -> str:
    if value is None:
        return "nil"
    return {bool: "bool", int: "int", float: "float64", str: "string", list: "[]interface {}"}.get(
        type(value), type(value).__name__
    )


def _number(value: Any, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExprError(f"invalid operation: {op} ({_type(value)})")
    return value


def _compare(op: str, a: Any, b: Any) -> bool:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if op in ("==", "!="):
        equal = a == b if numeric or type(a) is type(b) else False
        return equal if op == "==" else not equal
    if not numeric and not (isinstance(a, str) and isinstance(b, str)):
        raise ExprError(f"invalid operation: {_type(a)} {op} {_type(b)}")
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    x, y = _number(a, op), _number(b, op)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "/":
        if y == 0:
            return math.copysign(math.inf, x) if x != 0 else math.nan
        return x / y
    if op == "%":
        if not (isinstance(x, int) and isinstance(y, int)):
            raise ExprError(f"invalid operation: {_type(a)} % {_type(b)}")
        if y == 0:
            raise ExprError("integer divide by zero")
        return int(math.fmod(x, y))
    return float(x) ** float(y)


def _binary(op: str, left: Node, right: Node) -> Node:
    if op in ("&&", "and"):
        return lambda env: _truth(left(env)) and _truth(right(env))
    if op in ("||", "or"):
        return lambda env: _truth(left(env)) or _truth(right(env))
    if op in ("==", "!=", "<", ">", "<=", ">="):
        return lambda env: _compare(op, left(env), right(env))
    if op == "in":
        return lambda env: _contains(right(env), left(env))
    return lambda env: _arith(op, left(env), right(env))


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, list | dict):
        return item in container
    raise ExprError(f"invalid operation: in {_type(container)}")


def _indexer(node: Node, index: Node) -> Node:
    def get(env: dict[str, Any]) -> Any:
        value, key = node(env), index(env)
        if isinstance(value, list):
            if isinstance(key, bool) or not isinstance(key, int | float) or key != int(key):
                raise ExprError(f"invalid array index {key!r}")
            i = int(key)
            i = i + len(value) if i < 0 else i
            if not 0 <= i < len(value):
                raise ExprError(f"index out of range: {int(key)} (array length is {len(value)})")
            return value[i]
        if isinstance(value, dict):
            return value.get(key)
        raise ExprError(f"cannot fetch {key!r} from {_type(value)}")

    return get


def _member(node: Node, name: str) -> Node:
    def get(env: dict[str, Any]) -> Any:
        value = node(env)
        if isinstance(value, dict):
            return value.get(name)
        raise ExprError(f"cannot fetch {name} from {_type(value)}")

    return get


def _collection(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ExprError(f"{name}: expected an array, got {_type(value)}")
    return value


def _predicate(name: str) -> Callable[[Node, Node], Node]:
    def build(collection: Node, predicate: Node) -> Node:
        def run(env: dict[str, Any]) -> Any:
            items = _collection(collection(env), name)
            if name in ("filter", "map"):
                out = [predicate({**env, "#": i}) for i in items]
                return out if name == "map" else [i for i, t in zip(items, out, strict=True) if t]
            hits = [_truth(predicate({**env, "#": i})) for i in items]
            if name == "all":
                return all(hits)
            if name == "any":
                return any(hits)
            if name == "none":
                return not any(hits)
            if name == "one":
                return sum(hits) == 1
            return sum(hits)

        return run

    return build


PREDICATE_BUILTINS = {
    n: _predicate(n) for n in ("all", "any", "none", "one", "filter", "map", "count")
}


def _len(value: Any) -> int:
    if isinstance(value, list | dict | str):
        return len(value)
    raise ExprError(f"invalid argument for len (type {_type(value)})")


def _as_float(value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ExprError(f'strconv.ParseFloat: parsing "{value}": invalid syntax') from None
    return float(_number(value, "asFloat"))


def _as_int(value: Any) -> int:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ExprError(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
    return int(_number(value, "asInt"))


def _numbers(args: list[Any], name: str) -> list[float]:
    items = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not items:
        raise ExprError(f"not enough arguments to call {name}")
    return [_number(v, name) for v in items]


def _call(env: dict[str, Any], name: str, args: list[Any]) -> Any:
    if name in env and callable(env[name]):
        return env[name](*args)
    simple: dict[str, Callable[..., Any]] = {
        "len": _len,
        "abs": lambda v: abs(_number(v, "abs")),
        "int": _as_int,
        "float": _as_float,
        "isNaN": lambda v: isinstance(v, float) and math.isnan(v),
        "isInf": lambda v: isinstance(v, float) and math.isinf(v),
        "asInt": _as_int,
        "asFloat": _as_float,
    }
    if name in simple:
        if len(args) != 1:
            raise ExprError(f"{name}: expected 1 argument, got {len(args)}")
        return simple[name](args[0])
    if name in ("min", "max"):
        values = _numbers(args, name)
        return min(values) if name == "min" else max(values)
    if name == "sum":
        return sum(_numbers(args, name)) if args and args[0] != [] else 0
    raise ExprError(f"unknown func {name}")


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
        raise ExprError(f"expected bool, but got {_type(value)}")
    return value
