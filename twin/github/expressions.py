"""GitHub Actions expressions: ``${{ <expr> }}`` templates, ``if:`` conditions, and their contexts.

Grammar (precedence low to high): ``||``, ``&&``, ``== !=``, ``< <= > >=``, ``!``, then
property access ``a.b``, index ``a['b']`` / ``a[0]``, object filters ``a.*.b``, function calls,
parentheses and literals (``null``, booleans, numbers incl. hex and exponent, single-quoted
strings with ``''`` as the quote). Context names, properties and function names ignore case.
``&&`` and ``||`` return an operand, not a boolean, as GitHub does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.github.expr_parser import Parser, parse, tokens
from twin.github.expr_values import (
    ExpressionError,
    FilteredArray,
    builtin_functions,
    compare,
    loose_equal,
    to_str,
    truthy,
)

STATUS_FUNCTIONS = ("success", "failure", "cancelled", "always")


@dataclass
class Context:
    """What an expression can see: named contexts plus the status functions of its place."""

    values: dict[str, Any] = field(default_factory=dict)
    status: Mapping[str, Callable[[], bool]] = field(default_factory=dict)
    workspace: Path | None = None


def _lookup(target: Any, key: Any) -> Any:
    if isinstance(target, FilteredArray):
        out = FilteredArray()
        for item in target:
            found = _lookup(item, key)
            if found is not None:
                out.append(found)
        return out
    if isinstance(target, Mapping):
        name = to_str(key)
        if name in target:
            return target[name]
        folded = name.casefold()
        return next((v for k, v in target.items() if str(k).casefold() == folded), None)
    if isinstance(target, list) and isinstance(key, int | float) and not isinstance(key, bool):
        index = int(key)
        return target[index] if 0 <= index < len(target) and index == key else None
    return None


def _filter(target: Any) -> FilteredArray:
    if isinstance(target, Mapping):
        return FilteredArray(target.values())
    if isinstance(target, list):
        flat = FilteredArray()
        for item in target:
            flat.extend(
                item if isinstance(target, FilteredArray) and isinstance(item, list) else [item]
            )
        return flat
    return FilteredArray()


def evaluate_tree(node: Any, ctx: Context) -> Any:
    """Evaluate a syntax tree from ``parse``."""
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ctx":
        if node[1] not in ctx.values:
            raise ExpressionError(f"Unrecognized named-value: '{node[1]}'")
        return ctx.values[node[1]]
    if kind == "not":
        return not truthy(evaluate_tree(node[1], ctx))
    if kind == "index":
        return _lookup(evaluate_tree(node[1], ctx), evaluate_tree(node[2], ctx))
    if kind == "filter":
        return _filter(evaluate_tree(node[1], ctx))
    if kind == "call":
        return _call(node[1], node[2], ctx)
    op, left = node[1], evaluate_tree(node[2], ctx)
    if op == "&&":
        return evaluate_tree(node[3], ctx) if truthy(left) else left
    if op == "||":
        return left if truthy(left) else evaluate_tree(node[3], ctx)
    right = evaluate_tree(node[3], ctx)
    if op == "==":
        return loose_equal(left, right)
    if op == "!=":
        return not loose_equal(left, right)
    return compare(left, right, op)


def _call(name: str, args: list[Any], ctx: Context) -> Any:
    if name in STATUS_FUNCTIONS:
        if name not in ctx.status:
            raise ExpressionError(f"{name}() is only allowed in 'if:' conditions")
        return ctx.status[name]()
    functions = builtin_functions(ctx.workspace)
    if name not in functions:
        raise ExpressionError(f"Unrecognized function: '{name}'")
    return functions[name](*(evaluate_tree(arg, ctx) for arg in args))


def evaluate(expression: str, ctx: Context) -> Any:
    """Evaluate one expression (the text inside ``${{ }}``)."""
    return evaluate_tree(parse(expression), ctx)


def has_template(value: Any) -> bool:
    """Whether a string holds ``${{``."""
    return isinstance(value, str) and "${{" in value


def render(value: Any, ctx: Context) -> Any:
    """Evaluate the templates in a scalar: a lone ``${{ x }}`` keeps x's type, else a string."""
    if not has_template(value):
        return value
    text: str = value
    parts: list[Any] = []
    pos = 0
    while (start := text.find("${{", pos)) >= 0:
        parts.append(text[pos:start])
        found, pos = tokens(text, start + 3, until_close=True)
        parts.append(evaluate_tree(Parser(found, text[start:pos]).parse(), ctx))
    parts.append(text[pos:])
    if len(parts) == 3 and parts[0].strip() == "" and parts[2].strip() == "":
        return parts[1]
    return "".join(p if isinstance(p, str) else to_str(p) for p in parts)


def render_str(value: Any, ctx: Context) -> str:
    """``render`` converted to the string GitHub would write."""
    return to_str(render(value, ctx))


def render_deep(value: Any, ctx: Context) -> Any:
    """``render`` applied to every string in a mapping or list."""
    if isinstance(value, Mapping):
        return {k: render_deep(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [render_deep(v, ctx) for v in value]
    return render(value, ctx)


def condition(text: Any, ctx: Context) -> bool:
    """An ``if:`` value (``${{ }}`` optional); without a status function: ``success() && (...)``."""
    if text is None:
        text = "success()"
    if isinstance(text, bool | int | float):
        return truthy(text) and ctx.status["success"]()
    source = str(text).strip()
    if source.startswith("${{") and source.endswith("}}") and source.count("${{") == 1:
        source = source[3:-2].strip()
    elif "${{" in source:
        return truthy(render_str(source, ctx)) and ctx.status["success"]()
    tree = parse(source)
    if not _uses_status(tree):
        return ctx.status["success"]() and truthy(evaluate_tree(tree, ctx))
    return truthy(evaluate_tree(tree, ctx))


def _uses_status(node: Any) -> bool:
    if not isinstance(node, tuple):
        return False
    if node[0] == "call" and node[1] in STATUS_FUNCTIONS:
        return True
    return any(_uses_status(child) for child in node[1:] if isinstance(child, tuple | list)) or any(
        _uses_status(arg) for child in node[1:] if isinstance(child, list) for arg in child
    )
