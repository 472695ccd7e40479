"""Run-time semantics of Argo's condition language (see :mod:`twin.cluster.analysis_expr`).

Values are Python floats, ints, bools, strings, lists, dicts and None, combined with expr-lang's
rules (github.com/expr-lang/expr): ``/`` is float division, comparisons involving NaN are false,
a number compared with nil or a string is an error, an index out of range is an error, ``&&`` and
``||`` short-circuit and need bools, and the builtins Argo's conditions use (``len``, ``all``,
``any``, ``none``, ``one``, ``filter``, ``map``, ``count``, ``abs``, ``min``, ``max``, ``sum``,
``int``, ``float``, ``isNaN``, ``isInf``, ``asInt``, ``asFloat``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


class ExprError(Exception):
    """A condition that does not compile or fails at run time."""


# A parsed expression is a closure over the environment: env -> value.
Node = Callable[[dict[str, Any]], Any]


def lookup(env: dict[str, Any], name: str) -> Any:
    """The value of a name in the environment (an unknown name is an error)."""
    if name not in env:
        raise ExprError(f"unknown name {name}")
    return env[name]


def truth(value: Any) -> bool:
    """A value used as a condition: it must be a bool."""
    if not isinstance(value, bool):
        raise ExprError(f"invalid operation: expected bool, got {type_name(value)}")
    return value


def type_name(value: Any) -> str:
    """The Go type name expr-lang prints in its errors."""
    if value is None:
        return "nil"
    return {bool: "bool", int: "int", float: "float64", str: "string", list: "[]interface {}"}.get(
        type(value), type(value).__name__
    )


def number(value: Any, op: str) -> float:
    """A value used in arithmetic: it must be a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExprError(f"invalid operation: {op} ({type_name(value)})")
    return value


def _compare(op: str, a: Any, b: Any) -> bool:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if op in ("==", "!="):
        equal = a == b if numeric or type(a) is type(b) else False
        return equal if op == "==" else not equal
    if not numeric and not (isinstance(a, str) and isinstance(b, str)):
        raise ExprError(f"invalid operation: {type_name(a)} {op} {type_name(b)}")
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
    x, y = number(a, op), number(b, op)
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
            raise ExprError(f"invalid operation: {type_name(a)} % {type_name(b)}")
        if y == 0:
            raise ExprError("integer divide by zero")
        return int(math.fmod(x, y))
    return float(x) ** float(y)


def binary(op: str, left: Node, right: Node) -> Node:
    """The closure of a binary operator (``&&``/``||`` short-circuit)."""
    if op in ("&&", "and"):
        return lambda env: truth(left(env)) and truth(right(env))
    if op in ("||", "or"):
        return lambda env: truth(left(env)) or truth(right(env))
    if op in ("==", "!=", "<", ">", "<=", ">="):
        return lambda env: _compare(op, left(env), right(env))
    if op == "in":
        return lambda env: _contains(right(env), left(env))
    return lambda env: _arith(op, left(env), right(env))


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, list | dict):
        return item in container
    raise ExprError(f"invalid operation: in {type_name(container)}")


def indexer(node: Node, index: Node) -> Node:
    """``a[i]``: array index (negative from the end) or map key."""

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
        raise ExprError(f"cannot fetch {key!r} from {type_name(value)}")

    return get


def member(node: Node, name: str) -> Node:
    """``a.b`` on a map."""

    def get(env: dict[str, Any]) -> Any:
        value = node(env)
        if isinstance(value, dict):
            return value.get(name)
        raise ExprError(f"cannot fetch {name} from {type_name(value)}")

    return get


def _collection(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ExprError(f"{name}: expected an array, got {type_name(value)}")
    return value


def _predicate(name: str) -> Callable[[Node, Node], Node]:
    def build(collection: Node, predicate: Node) -> Node:
        def run(env: dict[str, Any]) -> Any:
            items = _collection(collection(env), name)
            if name in ("filter", "map"):
                out = [predicate({**env, "#": i}) for i in items]
                return out if name == "map" else [i for i, t in zip(items, out, strict=True) if t]
            hits = [truth(predicate({**env, "#": i})) for i in items]
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


PREDICATES = {n: _predicate(n) for n in ("all", "any", "none", "one", "filter", "map", "count")}


def _len(value: Any) -> int:
    if isinstance(value, list | dict | str):
        return len(value)
    raise ExprError(f"invalid argument for len (type {type_name(value)})")


def _as_float(value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ExprError(f'strconv.ParseFloat: parsing "{value}": invalid syntax') from None
    return float(number(value, "asFloat"))


def _as_int(value: Any) -> int:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ExprError(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
    return int(number(value, "asInt"))


def _numbers(args: list[Any], name: str) -> list[float]:
    items = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not items:
        raise ExprError(f"not enough arguments to call {name}")
    return [number(v, name) for v in items]


def call(env: dict[str, Any], name: str, args: list[Any]) -> Any:
    """A builtin (or environment) function call."""
    if name in env and callable(env[name]):
        return env[name](*args)
    simple: dict[str, Callable[..., Any]] = {
        "len": _len,
        "abs": lambda v: abs(number(v, "abs")),
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
