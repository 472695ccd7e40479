"""Argo's small languages as the twin evaluates them: substitution, ``when``, ``depends``."""

from __future__ import annotations

import pytest

from twin.cluster.argo_expr import (
    ExprError,
    depends_tasks,
    evaluate_depends,
    evaluate_when,
    substitute,
)


def test_substitution_resolves_known_variables_and_refuses_unknown_strict_ones() -> None:
    scope = {"workflow.parameters.env": "prod", "tasks.a.ip": "127.0.0.5"}
    text = "{{workflow.parameters.env}} at {{ tasks.a.ip }}:8080 {{ $labels.instance }}"
    assert substitute(text, scope) == "prod at 127.0.0.5:8080 {{ $labels.instance }}"
    with pytest.raises(ExprError, match=r"failed to resolve \{\{tasks.b.outputs.result\}\}"):
        substitute("{{tasks.b.outputs.result}}", scope)
    with pytest.raises(ExprError, match="expression tags are not supported"):
        substitute("{{=sprig.upper('x')}}", scope)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("Failed != Succeeded", True),
        ("Succeeded != Succeeded", False),
        ("'a b' == 'a b'", True),
        ("10 > 9", True),
        ("2.5 <= 2", False),
        ("(1 > 2) || !(3 > 4)", True),
        ("true && false", False),
        ("prod =~ '^pro'", True),
        ("dev !~ 'dev'", False),
    ],
)
def test_when_is_evaluated_as_govaluate_with_bare_words_as_strings(
    when: str, expected: bool
) -> None:
    assert evaluate_when(when) is expected


def test_when_must_be_boolean() -> None:
    with pytest.raises(ExprError, match="expected boolean"):
        evaluate_when("1 + 2")
    with pytest.raises(ExprError, match="invalid expression"):
        evaluate_when("(1 > 2")


def test_depends_operands_and_bare_names() -> None:
    phases = {"a": "Succeeded", "b": "Failed", "c": "Skipped", "d": "Error"}

    def result(task: str, wanted: str) -> bool:
        return {"Errored": "Error"}.get(wanted, wanted) == phases[task]

    assert depends_tasks("a && (b.Failed || c-1.Skipped)") == ["a", "b", "c-1"]
    assert evaluate_depends("a && b.Failed", result)
    assert evaluate_depends("c", result)  # a bare name: Succeeded || Skipped || Daemoned
    assert not evaluate_depends("b", result)
    assert evaluate_depends("d.Errored && !b.Succeeded", result)
    with pytest.raises(ExprError, match="task result 'Completed' for task 'a' is invalid"):
        depends_tasks("a.Completed")
