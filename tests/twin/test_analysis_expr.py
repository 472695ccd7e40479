"""Argo's condition language (expr-lang subset) as the twin evaluates it."""

from __future__ import annotations

import math

import pytest

from twin.cluster.analysis_expr import ExprError, evaluate
from twin.cluster.analysis_rules import evaluate_result


@pytest.mark.parametrize(
    ("condition", "result", "expected"),
    [
        ("result[0] <= 0.01", [0.005], True),
        ("len(result) > 0 && result[0] <= 0.01", [], False),
        ("len(result) == 0 || result[0] > 2", [], True),
        ("!(result[0] > 1)", [0.5], True),
        ("not (result[0] > 1)", [2.0], False),
        ("result > 3 and result < 5", 4.0, True),
        ("isNaN(result[0])", [math.nan], True),
        ("result[0] <= 1", [math.nan], False),
        ("result[0] > 1", [math.nan], False),
        ("all(result, {# < 5})", [1.0, 2.0], True),
        ("all(result, # < 5)", [1.0, 7.0], False),
        ("any(result, {# > 5})", [1.0, 7.0], True),
        ("len(filter(result, # > 1)) == 1", [1.0, 7.0], True),
        ("result[-1] == 7", [1.0, 7.0], True),
        ("1 + 2 * 3 == 7", None, True),
        ("2 ** 3 == 8 && 7 % 3 == 1", None, True),
        ("(1 / 2) == 0.5", None, True),
        ("result[0] >= 0.5 ? true : false", [0.6], True),
        ("asFloat('0.5') == 0.5 && asInt('3') == 3", None, True),
        ("isNil(result)", None, True),
        ("default(result, 4) == 4", None, True),
        ('"a" in ["a", "b"]', None, True),
        ("max(result) < 3 && min(result) > 0 && sum(result) == 3", [1.0, 2.0], True),
    ],
)
def test_conditions(condition: str, result: object, expected: bool) -> None:
    assert evaluate(condition, result) is expected


@pytest.mark.parametrize(
    ("condition", "result", "needle"),
    [
        ("result[0] < 1", [], "index out of range"),
        ("result < 1", None, "invalid operation"),
        ("result[0] + ", [1.0], "unexpected token"),
        ("foo > 1", [1.0], "unknown name foo"),
        ("result[0]", [1.0], "expected bool"),
        ("result[0] < 1 @", [1.0], "unexpected character"),
    ],
)
def test_errors(condition: str, result: object, needle: str) -> None:
    with pytest.raises(ExprError, match=needle):
        evaluate(condition, result)


def test_short_circuit_guards_the_index() -> None:
    # the guard is what makes an empty vector a clean false instead of an evaluation error
    assert evaluate("len(result) > 0 && result[0] < 1", []) is False
    assert evaluate("len(result) == 0 || result[0] < 1", []) is True


@pytest.mark.parametrize(
    ("success", "failure", "result", "phase"),
    [
        (None, None, [5.0], "Successful"),  # no condition: Argo counts it as passed
        ("result[0] < 1", None, [5.0], "Failed"),
        ("result[0] < 1", None, [0.5], "Successful"),
        (None, "result[0] > 1", [0.5], "Successful"),
        (None, "result[0] > 1", [5.0], "Failed"),
        (
            "len(result) > 0 && result[0] < 1",
            "len(result) > 0 && result[0] >= 1",
            [],
            "Inconclusive",
        ),
        (
            "len(result) > 0 && result[0] < 1",
            "len(result) > 0 && result[0] >= 1",
            [0.2],
            "Successful",
        ),
        ("len(result) > 0 && result[0] < 1", "len(result) > 0 && result[0] >= 1", [3.0], "Failed"),
        ("result[0] < 1", "result[0] > 0", [0.5], "Failed"),  # failure wins when both hold
        ("len(result) > 0 && result[0] < 1", None, [], "Failed"),  # guarded: empty fails
        ("result[0] < 1", None, [], "Error"),  # unguarded: empty is an error
    ],
)
def test_evaluate_result_follows_argo(
    success: str | None, failure: str | None, result: object, phase: str
) -> None:
    metric = {"name": "m"}
    if success:
        metric["successCondition"] = success
    if failure:
        metric["failureCondition"] = failure
    got, message = evaluate_result(metric, result)
    assert got == phase
    if phase == "Error":
        assert "no data returned from the metric provider" in message
