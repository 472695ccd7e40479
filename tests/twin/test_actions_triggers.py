"""Workflow parsing and ``on:`` filters with GitHub's rules (filter cheat sheet, input typing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from twin.github.globs import filter_match
from twin.github.triggers import Event, dispatch_inputs, why_not
from twin.github.workflow import WorkflowError, parse_workflow

STEPS = "    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n"


def workflow(on: str, extra: str = "") -> Any:
    return parse_workflow(".github/workflows/w.yml", f"on:\n{on}\n{extra}jobs:\n  j:\n{STEPS}")


def push(ref: str, files: list[str]) -> Event:
    return Event(name="push", ref=ref, sha="s", payload={}, actor="a", changed_files=lambda: files)


def pull(action: str, base: str, files: list[str]) -> Event:
    return Event(
        name="pull_request",
        ref="refs/pull/1/merge",
        sha="s",
        payload={},
        actor="a",
        action=action,
        base_ref=base,
        changed_files=lambda: files,
    )


# Cases from the docs' "Filter pattern cheat sheet".
@pytest.mark.parametrize(
    ("patterns", "value", "selected"),
    [
        (["feature/*"], "feature/my-branch", True),
        (["feature/*"], "feature/your/branch", False),
        (["feature/**"], "feature/your/branch", True),
        (["main", "releases/mona-the-octocat"], "releases/mona-the-octocat", True),
        (["*"], "main", True),
        (["*"], "releases/v1", False),
        (["**"], "releases/v1", True),
        (["v2*"], "v2.0", True),
        (["v[12].[0-9]+.[0-9]+"], "v1.10.1", True),
        (["v[12].[0-9]+.[0-9]+"], "v3.1.1", False),
        (["*.js"], "app.js", True),
        (["*.js"], "src/app.js", False),
        (["**.js"], "src/app.js", True),
        (["docs/*"], "docs/README.md", True),
        (["docs/**"], "docs/mona/octocat.txt", True),
        (["docs/**/*.md"], "docs/a/b/c.md", True),
        (["docs/**/*.md"], "docs/c.md", True),
        (["**/docs/**"], "src/docs/x", True),
        (["**/README.md"], "README.md", True),
        (["**/*src/**"], "a/src/app.js", True),
        (["**/*-post.md"], "my-post.md", True),
        (["ab?c"], "ac", True),  # ? = zero or one of the preceding character
        (["ab?c"], "abc", True),
        (["ab?c"], "abbc", False),
        (["ab+c"], "abbbc", True),  # + = one or more of the preceding character
        (["ab+c"], "ac", False),
        (["releases/**", "!releases/**-alpha"], "releases/v1-alpha", False),
        (["releases/**", "!releases/**-alpha"], "releases/v1", True),
        (["!releases/**-alpha", "releases/**"], "releases/v1-alpha", True),
    ],
)
def test_filter_patterns(patterns: list[str], value: str, selected: bool) -> None:
    assert filter_match(patterns, value) is selected


def test_on_is_a_key_not_a_boolean_and_short_forms_normalise() -> None:
    assert set(workflow("  [push, workflow_dispatch]").triggers) == {"push", "workflow_dispatch"}
    single = parse_workflow("w.yml", f"on: push\njobs:\n  j:\n{STEPS}")
    assert single.triggers == {"push": {}}


def test_push_filters() -> None:
    wf = workflow("  push:\n    branches: [main]\n    paths: ['environments/**']")
    assert why_not(wf, push("refs/heads/main", ["environments/dev/model.yaml"])) is None
    assert "no changed file matches" in str(why_not(wf, push("refs/heads/main", ["README.md"])))
    assert "not in branches" in str(why_not(wf, push("refs/heads/dev", ["environments/x"])))
    assert "names only branches" in str(why_not(wf, push("refs/tags/v1", ["environments/x"])))
    ignore = workflow("  push:\n    paths-ignore: ['docs/**']")
    assert "paths-ignore" in str(why_not(ignore, push("refs/heads/x", ["docs/a.md"])))
    assert why_not(ignore, push("refs/heads/x", ["docs/a.md", "src/a.py"])) is None
    tags = workflow("  push:\n    tags: ['v*']")
    assert why_not(tags, push("refs/tags/v1.0", [])) is None
    assert "names only tags" in str(why_not(tags, push("refs/heads/main", [])))


def test_pull_request_types_and_base_branch() -> None:
    wf = workflow("  pull_request:\n    branches: [main]")
    assert why_not(wf, pull("opened", "main", ["a"])) is None
    assert why_not(wf, pull("synchronize", "main", ["a"])) is None
    assert "type 'closed'" in str(why_not(wf, pull("closed", "main", ["a"])))
    assert "not in branches" in str(why_not(wf, pull("opened", "release", ["a"])))
    closed = workflow("  pull_request:\n    types: [closed]")
    assert why_not(closed, pull("closed", "main", [])) is None


def test_schedule_and_repository_dispatch_types() -> None:
    wf = workflow(
        "  schedule:\n    - cron: '0 2 * * *'\n  repository_dispatch:\n    types: [rollback]"
    )
    sched = Event(name="schedule", ref="refs/heads/main", sha="s", payload={}, actor="a")
    assert why_not(wf, sched) is None
    sched.cron = "0 3 * * 0"
    assert "no schedule" in str(why_not(wf, sched))
    dispatch = Event(
        name="repository_dispatch", ref="r", sha="s", payload={}, actor="a", action="rollback"
    )
    assert why_not(wf, dispatch) is None
    dispatch.action = "deploy"
    assert "not in types" in str(why_not(wf, dispatch))


def test_dispatch_inputs_defaults_types_and_refusals() -> None:
    wf = workflow(
        "  workflow_dispatch:\n    inputs:\n"
        "      env: {type: choice, options: [dev, prod], required: true}\n"
        "      dry: {type: boolean, default: true}\n"
        "      n: {type: number, default: 2}\n"
        "      note: {type: string}"
    )
    assert dispatch_inputs(wf, {"env": "prod"}) == {"env": "prod", "dry": True, "n": 2, "note": ""}
    assert dispatch_inputs(wf, {"env": "dev", "dry": "false", "n": "2.5"})["dry"] is False
    for given, message in (
        ({}, "Required input 'env'"),
        ({"env": "qa"}, "not in the list"),
        ({"env": "dev", "dry": "maybe"}, "not a boolean"),
        ({"env": "dev", "n": "x"}, "not a number"),
        ({"env": "dev", "other": "1"}, "Unexpected inputs"),
    ):
        with pytest.raises(ValueError, match=message):
            dispatch_inputs(wf, given)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("on: push\njobs:\n  j:\n    steps:\n      - run: x\n", "'runs-on' is required"),
        (f"on: push\njobs:\n  j:\n    strategy: {{}}\n{STEPS}", "strategy is not supported"),
        (f"on: push\njobs:\n  j:\n    needs: nope\n{STEPS}", "needs unknown job 'nope'"),
        (f"on: push\nbogus: 1\njobs:\n  j:\n{STEPS}", "unexpected top-level key 'bogus'"),
        (f"on: push\njobs:\n  a:\n    needs: b\n{STEPS}  b:\n    needs: a\n{STEPS}", "cycle"),
        (
            "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n"
            "      - run: a\n        uses: b@c\n",
            "exactly one",
        ),
        (f"on: pushh\njobs:\n  j:\n{STEPS}", "on.pushh"),
        ("on: [push\n", "not valid YAML"),
    ],
)
def test_invalid_workflows_are_named(text: str, message: str) -> None:
    with pytest.raises(WorkflowError, match=message):
        parse_workflow(".github/workflows/w.yml", text)


def test_the_repositorys_workflows_parse_and_use_only_known_actions(repo_root: Path) -> None:
    from twin.github.actions_table import resolve

    paths = sorted((repo_root / ".github" / "workflows").glob("*.yml"))
    assert paths
    for path in paths:
        parsed = parse_workflow(f".github/workflows/{path.name}", path.read_text(encoding="utf-8"))
        for job in parsed.jobs.values():
            for step in job["steps"]:
                if "uses" in step:
                    resolve(step["uses"])  # raises JobFailed naming an action not in the table
