"""The expression evaluator against cases from GitHub's docs ("Evaluate expressions")."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from twin.github.expr_values import ExpressionError, to_str
from twin.github.expressions import Context, condition, evaluate, render

EVENT = {
    "commits": [{"message": "one", "author": {"name": "a"}}, {"message": "two"}],
    "issue": {"labels": [{"name": "bug"}, {"name": "triage"}]},
    "inputs": {"dry": "true"},
}


def make_ctx(*, succeeded: bool = True, failed: bool = False, cancelled: bool = False) -> Context:
    values: dict[str, Any] = {
        "github": {"event_name": "push", "ref": "refs/heads/main", "event": EVENT, "sha": "abc"},
        "env": {"STAGE": "prod", "EMPTY": ""},
        "inputs": {"dry": True, "count": 3, "name": "Mona"},
        "needs": {
            "build": {"result": "success", "outputs": {"v": "1.2"}},
            "lint": {"result": "failure"},
        },
        "steps": {
            "meta": {
                "outputs": {"json": '{"a": [1, 2]}'},
                "outcome": "failure",
                "conclusion": "success",
            }
        },
        "vars": {"REGION": "eu-west-1"},
    }
    return Context(
        values=values,
        status={
            "success": lambda: succeeded,
            "failure": lambda: failed,
            "cancelled": lambda: cancelled,
            "always": lambda: True,
        },
    )


# (expression, expected) — literals, operators and coercions as the docs table them.
CASES: list[tuple[str, Any]] = [
    ("null", None),
    ("false", False),
    ("true", True),
    ("711", 711),
    ("-9.2", -9.2),
    ("0xff", 255),
    ("-2.99e-2", -0.0299),
    ("'Mona the Octocat'", "Mona the Octocat"),
    ("'It''s open source!'", "It's open source!"),
    ("(1 == 1) && 'yes'", "yes"),
    ("null == 0", True),  # null coerces to 0
    ("'' == 0", True),  # empty string coerces to 0
    ("'abc' == 0", False),  # NaN
    ("true == 1", True),
    ("'1' == 1", True),
    ("'MONA' == 'mona'", True),  # strings ignore case
    ("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3", True),
    ("'a' < 'B'", True),
    ("!0", True),
    ("!''", True),
    ("!'x'", False),
    ("github.event_name == 'push' && 'on push' || 'other'", "on push"),
    ("github.EVENT_NAME", "push"),  # property names ignore case
    ("github['ref']", "refs/heads/main"),
    ("github.event.commits[1].message", "two"),
    ("github.event.commits[5].message", None),
    ("github.nothing.deeper", None),
    ("contains('Hello world', 'llo')", True),
    ("contains(github.event.issue.labels.*.name, 'bug')", True),
    ('contains(fromJSON(\'["push", "pull_request"]\'), github.event_name)', True),
    ("startsWith('Hello world', 'he')", True),
    ("endsWith('Hello world', 'LD')", True),
    ("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "Hello Mona the Octocat"),
    ("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')", "{Hello Mona the Octocat!}"),
    ("join(github.event.issue.labels.*.name, ', ')", "bug, triage"),
    ("join('abc')", "abc"),
    ("toJSON(inputs.count)", "3"),
    ("fromJSON(steps.meta.outputs.json).a[1]", 2),
    ("fromJSON('true')", True),
    ("contains(needs.*.result, 'failure')", True),
    ("needs.build.outputs.v", "1.2"),
    ("steps.meta.outcome == 'failure' && steps.meta.conclusion", "success"),
    ("inputs.dry && 'dry run' || 'real'", "dry run"),
    ("inputs.count > 2", True),
    ("env.EMPTY || 'fallback'", "fallback"),
    ("vars.MISSING || vars.REGION", "eu-west-1"),
]


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_expression(expression: str, expected: Any) -> None:
    assert evaluate(expression, make_ctx()) == expected


def test_nan_is_not_equal_to_itself_and_is_falsy() -> None:
    ctx = make_ctx()
    assert evaluate("NaN == NaN", ctx) is False
    assert math.isnan(evaluate("NaN", ctx))
    assert condition("NaN", ctx) is False


def test_templates_keep_type_alone_and_stringify_in_text() -> None:
    ctx = make_ctx()
    assert render("${{ inputs.count }}", ctx) == 3
    assert render("${{ inputs.dry }}", ctx) is True
    assert (
        render("n=${{ inputs.count }} dry=${{ inputs.dry }} none=${{ null }}.", ctx)
        == "n=3 dry=true none=."
    )
    assert render("a '}}' b ${{ '}}' }}", ctx) == "a '}}' b }}"
    assert to_str(1.5) == "1.5"
    assert to_str(2.0) == "2"


def test_if_without_status_function_means_success_and() -> None:
    assert condition("github.event_name == 'push'", make_ctx()) is True
    assert condition("github.event_name == 'push'", make_ctx(succeeded=False)) is False
    assert (
        condition("${{ always() && github.event_name == 'push' }}", make_ctx(succeeded=False))
        is True
    )
    assert condition("failure()", make_ctx(succeeded=False, failed=True)) is True
    assert condition("cancelled()", make_ctx(cancelled=True)) is True
    assert condition(None, make_ctx()) is True
    assert condition(None, make_ctx(succeeded=False)) is False
    assert condition("!cancelled()", make_ctx(succeeded=False, failed=True)) is True


def test_hash_files_hashes_matched_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.lock").write_text("1")
    (tmp_path / "b.lock").write_text("2")
    ctx = make_ctx()
    ctx.workspace = tmp_path
    first = evaluate("hashFiles('**/*.lock')", ctx)
    assert len(first) == 64
    assert evaluate("hashFiles('nothing/*.lock')", ctx) == ""
    (tmp_path / "b.lock").write_text("3")
    assert evaluate("hashFiles('**/*.lock')", ctx) != first
    assert evaluate("hashFiles('**/*.lock', '!b.lock')", ctx) != evaluate(
        "hashFiles('**/*.lock')", ctx
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("github.", "expected more"),
        ("nope.x", "Unrecognized named-value: 'nope'"),
        ("frobnicate(1)", "Unrecognized function"),
        ("success()", "only allowed in 'if:'"),
        ("'unterminated", "unexpected character"),
        ("format('{3}', 1)", "invalid placeholder"),
        ("fromJSON('{nope')", "not JSON"),
        ("1 ==", "expected"),
    ],
)
def test_bad_expressions_name_the_fault(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression, Context(values={"github": {}}))
